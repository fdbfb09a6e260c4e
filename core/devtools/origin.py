"""Where this toolpark was installed from, as pip recorded it (PEP 610's `direct_url.json`).

toolpark is not on PyPI, so what installs it elsewhere starts from here: a new plugin's install
line (pip) and a deployment's image build (docker's build context).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import distributions

__all__ = ["Origin", "toolpark_origin"]


@dataclass(frozen=True)
class Origin:
    url: str  # a file:// URL of a checkout, or a VCS URL
    commit: str | None  # the VCS commit, for a VCS URL
    editable: bool

    @property
    def path(self) -> str | None:
        return self.url.removeprefix("file://") if self.url.startswith("file://") else None

    def pip_requirement(self) -> str:
        """What `pip install` takes to install this toolpark again."""
        if self.path is None:
            return f"git+{self.url}@{self.commit}" if self.commit else self.url
        return f"-e {self.path}" if self.editable else self.path

    def build_context(self) -> str:
        """What docker takes as a build context for the same code: the checkout, or `URL#commit`."""
        if self.path is not None:
            return self.path
        return f"{self.url}#{self.commit}" if self.commit else self.url


def toolpark_origin() -> Origin | None:
    """None when toolpark came from an index (or is not installed): nothing to point at but its name.

    Every toolpark distribution on the path is asked, not the first: a build in a checkout leaves
    a `toolpark.egg-info` there, without the record, which shadows the installed one when the
    checkout is the working directory."""
    recorded = next(
        (text for found in distributions(name="toolpark") if (text := found.read_text("direct_url.json"))), None
    )
    if recorded is None:
        return None
    found = json.loads(recorded)
    commit = found.get("vcs_info", {}).get("commit_id")
    return Origin(found["url"], commit, bool(found.get("dir_info", {}).get("editable")))
