"""Metadata filters, compiled to SQL over `c.metadata` (chunks aliased `c`), usable in every search mode.

A filter is a list of conditions, all of which must hold: `{"field": "lang", "value": "de"}` is
equality, `{"field": "year", "op": "gte", "value": 2020}` a range, `{"field": "kind", "op": "in",
"value": ["memo", "report"]}` membership. The shape is closed and typed on purpose: a small model
filling an open object invents nested keys until it runs out of tokens; a list of three named
fields, with the operators enumerated, it completes.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from psycopg import sql
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from toolpark.contract.errors import ToolError
from toolpark.contract.text import has_control_characters

__all__ = ["Condition", "Filters", "compile_filters"]


def _printable(value: str) -> str:
    # NUL is refused by PostgreSQL's jsonb and breaks Milvus's expression escaping; no stored
    # metadata value holds control characters, so a filter with one can only be a mistake.
    if has_control_characters(value):
        raise ValueError("a filter value may not contain control characters")
    return value


Scalar = Annotated[str, Field(max_length=200), AfterValidator(_printable)] | int | float | bool
_RANGE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class Condition(BaseModel):
    """One condition on a metadata field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$", description="A metadata field, e.g. year.")
    op: Literal["eq", "in", "gt", "gte", "lt", "lte"] = Field("eq", description="How value is compared.")
    value: Scalar | Annotated[list[Scalar], Field(min_length=1, max_length=50)] = Field(
        description="A value; a list for in."
    )


Filters = Annotated[list[Condition], Field(max_length=20)]


def compile_filters(filters: list[Condition] | None) -> tuple[sql.Composable, list[object]]:
    """An SQL condition (`TRUE` when empty) and its parameters."""
    parts: list[sql.Composable] = []
    params: list[object] = []
    for condition in filters or []:
        field, value = condition.field, condition.value
        if condition.op == "in" or isinstance(value, list):
            if condition.op not in ("in", "eq") or not isinstance(value, list):
                raise ToolError(f"Filter on {field}: a list of values goes with op 'in', and 'in' needs a list.")
            parts.append(
                sql.SQL("({})").format(sql.SQL(" OR ").join(sql.SQL("c.metadata @> %s::jsonb") for _ in value))
            )
            params.extend(json.dumps({field: item}) for item in value)
        elif condition.op == "eq":
            parts.append(sql.SQL("c.metadata @> %s::jsonb"))
            params.append(json.dumps({field: value}))
        else:
            if isinstance(value, bool):
                raise ToolError(f"Filter {field} {condition.op} compares with a number or a string, not {value!r}.")
            kind = "numeric" if isinstance(value, int | float) else "text"
            # A metadata value of another type fails the comparison instead of the query.
            guard = "jsonb_typeof(c.metadata->%s) = " + ("'number'" if kind == "numeric" else "'string'")
            parts.append(sql.SQL(f"({guard} AND (c.metadata->>%s)::{kind} {_RANGE[condition.op]} %s)"))
            params.extend([field, field, value])
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params
