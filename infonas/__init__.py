"""infonas."""
