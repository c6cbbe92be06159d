"""Engage: losses (see haina/engage/__init__.py)."""
