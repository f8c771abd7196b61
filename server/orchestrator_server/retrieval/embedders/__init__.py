"""Embedders: one small protocol, several implementations."""
