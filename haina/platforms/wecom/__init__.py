"""WeCom (企业微信): callback crypto and error codes shared by the connector and the sandbox."""
