"""Provider adapters behind one small protocol (base.Provider)."""
