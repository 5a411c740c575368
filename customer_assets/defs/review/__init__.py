"""Review definitions."""
