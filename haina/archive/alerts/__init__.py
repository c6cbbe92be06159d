"""Keyword alert notifications: a keyword alert of the archive becomes a WeCom app message."""
