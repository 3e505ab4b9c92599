"""An example agentlog plugin: one agent, one detector, one sink (see docs/plugins.md)."""
