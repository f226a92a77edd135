"""Pure Python: no server."""
