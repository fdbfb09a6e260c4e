"""Deployment rendering: one spec in, docker compose, librechat.yaml and Caddyfile out."""
