"""Taobao/Tmall TOP (淘宝开放平台): request signing now; client, mapping and sync come with the connector."""
