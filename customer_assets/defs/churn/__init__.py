"""Churn definitions."""
