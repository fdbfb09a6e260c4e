"""What outlasts one request: calls run as tasks (`registry`, kept by a `ledger` on disk or a
`shared_ledger` in PostgreSQL for every replica), questions asked mid-call (`asking`), large
results spilled to resources (`spill`), and listen-stream events shared by replicas."""
