"""Engage: groupcodes (see haina/engage/__init__.py)."""
