"""Pure rules, standard library only (docs/architecture.md)."""
