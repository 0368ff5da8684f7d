"""HTTP: native REST v1 and the MLflow REST surface (docs/architecture.md)."""
