"""Youzan (有赞云): push signatures, the legacy request sign and PII field ciphertext now; client,
mapping and sync come with the connector."""
