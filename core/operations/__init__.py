"""Operations: Prometheus metrics, logging setup, and the embedded PostgreSQL and SeaweedFS."""
