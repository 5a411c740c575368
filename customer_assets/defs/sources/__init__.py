"""Sources definitions."""
