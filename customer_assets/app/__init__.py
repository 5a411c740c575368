"""The business app: Streamlit pages over the published online snapshot and the MLflow registry (read-only)."""
