"""Serving definitions."""
