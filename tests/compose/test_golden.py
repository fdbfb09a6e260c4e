"""The rendered files of both reference specs, compared whole with the reviewed copies in golden/.

After an intended change: `UPDATE_GOLDEN=1 pytest tests/compose/test_golden.py`, then review the diff.
"""

from __future__ import annotations

import os

import pytest

from tests.compose.rendering import GOLDEN, SPECS, rendered, without_env


@pytest.mark.parametrize("case", sorted(SPECS))
def test_render_matches_golden_files(case: str) -> None:
    files = without_env(rendered(case))
    folder = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN"):
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == set(files), "files rendered differ from the golden set"
    for path, text in files.items():
        assert text == (folder / path).read_text(encoding="utf-8"), f"{case}/{path} differs from its golden copy"
