"""JD JOS (京东宙斯): request signing now; client, mapping and sync come with the connector."""
