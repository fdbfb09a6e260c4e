"""`toolpark compose`: one typed deployment spec renders the whole stack.

`spec` (the model) -> `checks` (cross-field rules, each naming its field) -> `topology` (who runs
where, who reaches whom) -> one renderer per file (`stack`, `librechat`, `caddy`, `keycloak`,
`litellm`, `postgres`, `dockerfile`) -> `render` (all files, pure) -> `files` (the disk).
"""
