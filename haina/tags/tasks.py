"""Event handlers of the tags module: each part registers its own (handler names are stored on
deliveries: keep them stable)."""

from __future__ import annotations
