"""Douyin 抖店 (Doudian open platform): request and push signing now; client, mapping and sync come
with the connector."""
