"""Engage: handover (see haina/engage/__init__.py)."""
