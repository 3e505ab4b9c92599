"""Ways events get in: the Python API, `emit`, the process wrapper and the importers."""
