"""Metadata filters, compiled to SQL over `c.metadata` (chunks aliased `c`), usable in every search mode.

`{"lang": "de"}` is equality, `{"year": {"$gte": 2020, "$lt": 2024}}` a range,
`{"kind": {"$in": ["memo", "report"]}}` membership. Field names are plain identifiers.
"""

from __future__ import annotations

import json
import re
from typing import Any

from psycopg import sql

from toolpark.contract.errors import ToolError

__all__ = ["compile_filters"]

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def compile_filters(filters: dict[str, Any] | None) -> tuple[sql.Composable, list[Any]]:
    """An SQL condition (`TRUE` when empty) and its parameters."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for field, condition in (filters or {}).items():
        if not _FIELD.match(field):
            raise ToolError(f"Filter field {field!r} is not a plain name.")
        if not isinstance(condition, dict):
            parts.append(sql.SQL("c.metadata @> %s::jsonb"))
            params.append(json.dumps({field: condition}))
            continue
        for operator, value in condition.items():
            if operator == "$in":
                if not isinstance(value, list) or not value:
                    raise ToolError(f"Filter {field}.$in needs a non-empty list.")
                parts.append(
                    sql.SQL("({})").format(sql.SQL(" OR ").join(sql.SQL("c.metadata @> %s::jsonb") for _ in value))
                )
                params.extend(json.dumps({field: item}) for item in value)
            elif operator in _RANGE:
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise ToolError(f"Filter {field}.{operator} compares with a number or a string, not {value!r}.")
                kind = "numeric" if isinstance(value, int | float) else "text"
                # A metadata value of another type fails the comparison instead of the query.
                guard = (
                    "jsonb_typeof(c.metadata->%s) = 'number'"
                    if kind == "numeric"
                    else "jsonb_typeof(c.metadata->%s) = 'string'"
                )
                parts.append(sql.SQL("(" + guard + " AND (c.metadata->>%s)::" + kind + " " + _RANGE[operator] + " %s)"))
                params.extend([field, field, value])
            else:
                raise ToolError(f"Unknown filter operator {operator!r}; use $in, $gt, $gte, $lt or $lte.")
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params
