"""The `local` provider: the scheduled node's services as programs on this machine
(`toolpark.compose.local_nodes`, which the runner owns: `toolpark up` stops the node with the stack)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from toolpark.compose.local_nodes import LocalProvider
from toolpark.compose.providers import ProviderContext, ProviderError

__all__ = ["Settings", "provider"]


class Settings(BaseModel):
    """None: the node's programs are in the rendered folder."""

    model_config = ConfigDict(extra="forbid")


def provider(settings: Mapping[str, object], context: ProviderContext) -> LocalProvider:
    try:
        Settings.model_validate(settings)
    except ValidationError:
        raise ProviderError(f"the local provider takes no settings; got {', '.join(settings)}") from None
    return LocalProvider(context)
