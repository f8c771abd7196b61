"""What every HTTP provider shares: a pooled session, stream readers, error classification."""
