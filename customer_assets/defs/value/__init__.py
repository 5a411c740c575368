"""Value definitions."""
