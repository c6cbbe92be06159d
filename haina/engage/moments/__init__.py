"""Engage: moments (see haina/engage/__init__.py)."""
