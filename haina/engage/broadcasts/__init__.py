"""Engage: broadcasts (see haina/engage/__init__.py)."""
