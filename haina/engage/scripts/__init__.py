"""Engage: scripts (see haina/engage/__init__.py)."""
