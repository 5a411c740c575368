"""Monitoring definitions."""
