"""The forms the elicitation tools ask for, shaped as the conformance scenarios require."""

from typing import Any

from pydantic import BaseModel, Field


class ResponseForm(BaseModel):
    response: str = Field(description="User's response")


class DefaultsForm(BaseModel):
    """Every primitive type with a default (SEP-1034)."""

    name: str = Field("John Doe", description="User name")
    age: int = Field(30, description="User age")
    score: float = Field(95.5, description="User score")
    status: str = Field(
        "active", description="User status", json_schema_extra={"enum": ["active", "inactive", "pending"]}
    )
    verified: bool = Field(True, description="Verification status")


def _titled(options: dict[str, str]) -> list[Any]:
    return [{"const": value, "title": title} for value, title in options.items()]


class EnumForm(BaseModel):
    """Each enum form SEP-1330 defines."""

    untitledSingle: str = Field(
        description="Simple enum without titles", json_schema_extra={"enum": ["active", "inactive", "pending"]}
    )
    titledSingle: str = Field(
        description="Enum with titled options (oneOf)",
        json_schema_extra={
            "oneOf": _titled({"low": "Low Priority", "medium": "Medium Priority", "high": "High Priority"})
        },
    )
    untitledMulti: list[str] = Field(
        description="Multi-select without titles",
        json_schema_extra={"items": {"type": "string", "enum": ["read", "write", "execute"]}},
    )
    titledMulti: list[str] = Field(
        description="Multi-select with titled options",
        json_schema_extra={
            "items": {"anyOf": _titled({"feature": "New Feature", "bug": "Bug Fix", "docs": "Documentation"})}
        },
    )
    legacyEnum: str = Field(
        description="Legacy enum with enumNames",
        json_schema_extra={
            "enum": ["small", "medium", "large"],
            "enumNames": ["Small Size", "Medium Size", "Large Size"],
        },
    )
