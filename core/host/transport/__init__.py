"""How requests reach the call path: the ASGI app and stdio (`serving`), the HTTP protocol's limits
(`connections`), stateless JSON exchanges, SSE framing, session quotas and resumable streams."""
