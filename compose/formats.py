"""How rendered files are written: each says it was rendered, and YAML keeps the order it was built in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["HEADER", "yaml_file"]

HEADER = "# Rendered by `toolpark compose render` from the deployment spec: change the spec, not this file.\n"


def yaml_file(document: Mapping[str, Any]) -> str:
    return HEADER + yaml.safe_dump(dict(document), sort_keys=False, width=120, allow_unicode=True)
