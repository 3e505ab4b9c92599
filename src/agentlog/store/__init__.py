"""The log store: file layout, crash-safe appends, and readers over live and archived files."""
