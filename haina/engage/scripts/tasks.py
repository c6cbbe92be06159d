"""Event handlers and periodic jobs of engage.scripts (none: the library changes only by hand)."""
