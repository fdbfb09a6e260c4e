"""`toolpark chat`: a terminal agent over an OpenAI-compatible model and toolpark MCP endpoints (a
client-side app; the host never imports it).
"""
