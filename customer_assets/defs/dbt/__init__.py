"""Dbt definitions."""
