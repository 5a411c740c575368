"""Recommendation definitions."""
