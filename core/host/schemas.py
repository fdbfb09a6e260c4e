"""The JSON schemas a tool publishes: what a client needs to fill and check a call, no more.

Front ends hand a model every connected tool's name, description and input schema on every turn,
so every word in them is paid for again and again. Pydantic's schemas carry a title for every
field (its own name, capitalised) and spell an optional parameter as "a string, or null, default
null"; a model reads neither usefully, and a small one fills in every null it is offered. So the
published input schema has no titles and an optional parameter is just its type: leaving it out
says the rest. Output schemas lose their titles only: a result's null values must still validate.
The bounds that a grammar-constrained client cannot compile go too (`grammar_safe`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["GRAMMAR_REPETITION_LIMIT", "grammar_safe", "published"]

# llama.cpp turns a tool's JSON schema into a grammar to constrain the model's call, and its grammar
# engine refuses repetitions of 2,000 or more ("exceeds sane defaults"): one `maxLength: 2000`
# fails every call of the tool on llama-server. Such bounds are enforced, not published.
GRAMMAR_REPETITION_LIMIT = 2000

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")  # name -> schema
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMAS = ("items", "not", "additionalProperties", "contains")


def grammar_safe(node: Any) -> Any:
    """A JSON schema without the `maxLength` bounds a grammar-constrained client cannot compile."""
    if isinstance(node, dict):
        return {
            key: grammar_safe(value)
            for key, value in node.items()
            if not (key == "maxLength" and isinstance(value, int) and value >= GRAMMAR_REPETITION_LIMIT)
        }
    if isinstance(node, list):
        return [grammar_safe(item) for item in node]
    return node


def published(schema: dict[str, Any], *, inputs: bool) -> dict[str, Any]:
    """`schema` as a tool lists it: `inputs` for its input schema, else its output schema."""
    shaped: dict[str, Any] = _compact(grammar_safe(schema) if inputs else schema, inputs)
    return shaped


def _compact(node: Any, inputs: bool) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: _compact(inner, inputs) for name, inner in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [_compact(inner, inputs) for inner in value]
        elif key in _SCHEMAS and isinstance(value, dict):
            value = _compact(value, inputs)
        out[key] = value
    if inputs and isinstance(out.get("properties"), dict):
        required = set(out.get("required", []))
        out["properties"] = {
            name: inner if name in required else _without_null(inner) for name, inner in out["properties"].items()
        }
    return out


def _without_null(schema: Any) -> Any:
    """An optional parameter that defaults to null, as its other type: leaving it out is the null."""
    branches = schema.get("anyOf") if isinstance(schema, dict) else None
    if not isinstance(branches, list) or "default" not in schema or schema["default"] is not None:
        return schema
    rest = [branch for branch in branches if branch != {"type": "null"}]
    if len(rest) == len(branches):
        return schema
    kept = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**rest[0], **kept} if len(rest) == 1 else {**kept, "anyOf": rest}
