"""Metadata filters, usable in every search mode; each store compiles them to its own query language
(pgvector's SQL is in `stores/pgvector.py`).

A filter is a list of conditions, all of which must hold: `{"field": "lang", "value": "de"}` is
equality, `{"field": "year", "op": "gte", "value": 2020}` a range, `{"field": "kind", "op": "in",
"value": ["memo", "report"]}` membership. The shape is closed and typed on purpose: a small model
filling an open object invents nested keys until it runs out of tokens; a list of three named
fields, with the operators enumerated, it completes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from toolpark.contract.text import has_control_characters

__all__ = ["Condition", "Filters"]


def _printable(value: str) -> str:
    # NUL is refused by PostgreSQL's jsonb and breaks Milvus's expression escaping; no stored
    # metadata value holds control characters, so a filter with one can only be a mistake.
    if has_control_characters(value):
        raise ValueError("a filter value may not contain control characters")
    return value


Scalar = Annotated[str, Field(max_length=200), AfterValidator(_printable)] | int | float | bool


class Condition(BaseModel):
    """One condition on a metadata field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$", description="A metadata field, e.g. year.")
    op: Literal["eq", "in", "gt", "gte", "lt", "lte"] = Field("eq", description="How value is compared.")
    value: Scalar | Annotated[list[Scalar], Field(min_length=1, max_length=50)] = Field(
        description="A value; a list for in."
    )


Filters = Annotated[list[Condition], Field(max_length=20)]
