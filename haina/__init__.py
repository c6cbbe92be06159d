"""海纳 Haina — open-source, self-hosted SCRM for Chinese e-commerce and retail merchants."""

__version__ = "0.1.0"
