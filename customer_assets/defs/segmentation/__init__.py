"""Segmentation definitions."""
