"""Persistence: one module per aggregate, on one unit of work (docs/architecture.md)."""
