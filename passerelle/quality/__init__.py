"""Contracts on the canonical tables (Great Expectations suite, imported lazily)."""
