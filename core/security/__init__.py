"""Security: authentication (API keys, OIDC), identity, tenant scope, SSRF-safe egress, rate limits."""
