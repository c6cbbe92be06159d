"""Archived chat media: fetched in 512 KB chunks through GetMediaData, kept encrypted in a
content-addressed store, linked to the messages that carry them."""
