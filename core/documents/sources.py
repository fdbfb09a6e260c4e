"""Where a document comes from: uploaded bytes, an http(s) URL through the host's safe egress, or a
file in a directory the operator opened. Never an arbitrary local path from the model."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from toolpark.contract.errors import ToolError
from toolpark.contract.outbound import OutboundHTTP
from toolpark.contract.text import has_control_characters

__all__ = ["Document", "LocalFile", "load", "local_files"]

PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class Document:
    data: bytes
    name: str
    content_type: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_pdf(self) -> bool:
        return self.data[:1024].lstrip().startswith(PDF_MAGIC) or self.content_type == "application/pdf"


async def load(
    *,
    data_base64: str | None,
    url: str | None,
    path: str | None,
    egress: OutboundHTTP,
    max_bytes: int,
    allowed_dir: Path | None,
) -> Document:
    """The one source given, read within `max_bytes`; a ToolError names what is wrong."""
    given = [name for name, value in (("data_base64", data_base64), ("url", url), ("path", path)) if value]
    if len(given) != 1:
        raise ToolError(
            "Give exactly one of data_base64, url or path" + (f"; got {', '.join(given)}." if given else ".")
        )
    if data_base64:
        if len(data_base64) > max_bytes * 4 // 3 + 4:
            raise ToolError(f"The document is larger than this server's limit of {max_bytes} bytes.")
        try:
            data = base64.b64decode(data_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ToolError("data_base64 is not valid base64.") from exc
        return Document(data, "upload", "")
    if url:
        fetched = await egress.fetch(url, max_bytes=max_bytes)
        if fetched.status_code >= 400:
            raise ToolError(f"Failed to fetch {url} - status code {fetched.status_code}")
        kind = fetched.headers.get("content-type", "").split(";")[0].strip().lower()
        return Document(fetched.content, url, kind)
    return _local(path or "", allowed_dir, max_bytes)


def _opened(allowed_dir: Path | None) -> Path:
    """The directory the operator opened, resolved; refused when none is."""
    if allowed_dir is None:
        raise ToolError("Reading local files is not enabled on this server; send the document as data_base64 or a URL.")
    return allowed_dir.resolve()


def _inside(root: Path, path: Path) -> Path | None:
    """`path` with its links followed, if it stays inside `root`."""
    target = path.resolve()
    return target if target.is_relative_to(root) else None


def _local(path: str, allowed_dir: Path | None, max_bytes: int) -> Document:
    root = _opened(allowed_dir)
    if has_control_characters(path):
        raise ToolError("A path may not contain control characters (such as a NUL byte).")
    target = _inside(root, root / path)
    if target is None:
        raise ToolError(f"{path!r} is outside the directory this server may read.")
    if not target.is_file():
        raise ToolError(f"No file {path!r} in the directory this server may read.")
    if target.stat().st_size > max_bytes:
        raise ToolError(f"{path!r} is larger than this server's limit of {max_bytes} bytes.")
    return Document(target.read_bytes(), path, "")


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative to the opened directory, as the `path` argument takes it
    size: int


def local_files(allowed_dir: Path | None, pattern: str, most: int) -> tuple[list[LocalFile], bool]:
    """The files of the opened directory whose path matches the glob `pattern`, sorted by path, at most
    `most` of them looked at (and whether there were more): what `path` may name, as `_local` reads
    it, so a link that leads outside the directory is not listed."""
    root = _opened(allowed_dir)
    found: list[LocalFile] = []
    seen = 0
    for folder, folders, names in os.walk(root):
        folders.sort()
        for name in sorted(names):
            seen += 1
            if seen > most:
                return found, True
            target = _inside(root, Path(folder) / name)
            relative = (Path(folder) / name).relative_to(root).as_posix()
            if target is not None and target.is_file() and fnmatch.fnmatch(relative, pattern):
                found.append(LocalFile(relative, target.stat().st_size))
    return found, False
