"""Pinduoduo (拼多多开放平台): request signing now; client, mapping and sync come with the connector."""
