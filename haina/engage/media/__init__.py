"""The merchant's image library for WeCom messages and moments, and their WeCom media_ids."""
