"""Retrieval for RAG: named FAISS collections, their embedders, and index building."""
