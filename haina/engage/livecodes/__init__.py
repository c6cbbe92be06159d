"""Engage: livecodes (see haina/engage/__init__.py)."""
