"""Engage: welcome (see haina/engage/__init__.py)."""
