"""What a caller may touch: allowed buckets and prefixes, canonical keys, and each user's own folder.

Keys under a user root (default `users/`) belong to users: a caller may read and list only
`<root><its subject>/` there, so one user cannot read another's files through any tool. A front end
that keeps its users' uploads in the same bucket has roots of its own: LibreChat's S3 strategy
writes `images/<user id>/...` and `uploads/<user id>/...` (`LIBRECHAT_ROOTS`), and its user id is
the subject its MCP headers name. Open WebUI keeps its uploads in one folder (`S3_KEY_PREFIX`) but,
with `S3_ENABLE_TAGGING`, tags each with its user's id: an owner-tagged folder (`owner_tags`,
`openwebui/=OpenWebUI-User-Id`) holds objects each caller may read only when the tag names it
(`toolpark.storage.owners` reads the tags), and no one may write there.

One canonical key form, checked by `check_key` for every caller (the s3 tools and the s3://
inputs of other servers): stores differ in how they read `/a`, `a//b`, `a/./b` or `a\\b`
(SeaweedFS, for one, reads `bucket//users/b/x` as `users/b/x`), so a key that any store could
read as another key is refused rather than normalised, and the rules see the key the store sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from toolpark.contract.errors import ToolError
from toolpark.contract.identity import Identity
from toolpark.contract.text import has_control_characters

__all__ = ["LIBRECHAT_ROOTS", "OPENWEBUI_OWNER", "Access", "check_key", "folder_prefix"]

LIBRECHAT_ROOTS = ("images/", "uploads/")
"""The folders LibreChat's S3 file strategy keeps each user's files in, one folder per user id."""

OPENWEBUI_OWNER = "OpenWebUI-User-Id"
"""The tag Open WebUI's S3 storage puts on each upload (with `S3_ENABLE_TAGGING`): its user's id."""

_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def check_key(key: str, *, what: str = "Object key") -> str:
    """`key` when it is canonical; a ToolError naming what is wrong otherwise."""
    if not key or len(key.encode()) > 1024:
        raise ToolError(f"{what} must be 1 to 1024 bytes long.")
    if has_control_characters(key):
        raise ToolError(f"{what} may not contain control characters.")
    if "\\" in key:
        raise ToolError(f"{what} {key!r} has a backslash; use '/' between folders.")
    if key.startswith("/") or "//" in key:
        raise ToolError(f"{what} {key!r} starts with '/' or has an empty segment ('//'); name it without them.")
    if any(part in (".", "..") for part in key.split("/")):
        raise ToolError(f"{what} {key!r} has a '.' or '..' segment; name the object by its full key.")
    return key


def folder_prefix(prefix: str) -> str:
    """An allowlist prefix as the folder it names (`public` -> `public/`), unless it ends in `*`,
    which the operator writes to mean a raw prefix (`public*` also allows `publicity/`)."""
    if prefix.endswith("*"):
        return prefix[:-1]
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


@dataclass(frozen=True)
class Access:
    allowed: tuple[str, ...]  # "bucket", "bucket/folder" or "bucket/raw-prefix*"
    single_bucket: str | None
    user_roots: tuple[str, ...]  # folders of one folder per user (`users` and `users/` are the same)
    identity: Identity
    owner_tags: tuple[str, ...] = ()  # "folder=Tag-Key": objects there are the user's their tag names

    def owner_tag(self, key: str) -> str | None:
        """The tag that names the owner of `key`, when it is in an owner-tagged folder."""
        for entry in self.owner_tags:
            folder, _, tag = entry.rpartition("=")
            if key.startswith(folder_prefix(folder)) and key != folder_prefix(folder):  # the folder itself shows
                return tag
        return None

    @property
    def _roots(self) -> list[str]:
        return [folder_prefix(root) for root in self.user_roots if root]

    def _own(self, root: str) -> str:
        return f"{root}{quote(self.identity.subject, safe='')}/"

    def bucket(self, name: str | None) -> str:
        chosen = name or self.single_bucket
        if not chosen:
            raise ToolError("Name a bucket; list_buckets shows the ones you may use.")
        if not _BUCKET.match(chosen):
            raise ToolError(f"{chosen!r} is not a bucket name; list_buckets shows the ones you may use.")
        if self.single_bucket and chosen != self.single_bucket:
            raise ToolError(f"This server serves only the bucket {self.single_bucket!r}.")
        if self.allowed and not self._prefixes(chosen):
            raise ToolError(f"Bucket {chosen!r} is not one this server may use; list_buckets shows those.")
        return chosen

    def key(self, bucket: str, key: str) -> str:
        """`key` when it is canonical and this caller may use it; a ToolError otherwise. Under a user
        root that is the caller's own folder's contents only: the folders above it show in listings,
        but an object named like one of them (`users`, `users/`) is no one's to read."""
        check_key(key)
        root = self._root_of(key)
        if not self.visible(bucket, key) or (root is not None and not key.startswith(self._own(root))):
            raise ToolError(f"Object {key!r} in {bucket!r} is outside what you may read.")
        return key

    def writable(self, bucket: str, key: str) -> str:
        """`key` when this caller may write it: as `key`, and outside every owner-tagged folder (a
        front end's, whose tags it sets itself)."""
        if self.owner_tag(self.key(bucket, key)) is not None:
            raise ToolError(f"Object {key!r} in {bucket!r} is in a front end's folder: no tool writes there.")
        return key

    def listing_prefix(self, bucket: str, prefix: str) -> str:
        """`prefix` if listing it can show allowed keys; a ToolError naming the allowed prefixes otherwise.

        A prefix may stop inside a name (`pub`); what the listing returns still passes `visible`."""
        if prefix:
            check_key(prefix, what="Prefix")
        prefixes = self._prefixes(bucket)
        if prefixes and not any(prefix.startswith(p) or p.startswith(prefix) for p in prefixes):
            raise ToolError(f"Prefix {prefix!r} is outside what you may list; allowed: {', '.join(prefixes)}.")
        for root in self._roots:
            own = self._own(root)
            if prefix.startswith(root) and not (prefix.startswith(own) or own.startswith(prefix)):
                raise ToolError(f"Prefix {prefix!r} is another user's folder; yours is {own!r}.")
        return prefix

    def visible(self, bucket: str, key: str) -> bool:
        """Whether a key (or a folder, ending in `/`) may be shown to and read by this caller."""
        prefixes = self._prefixes(bucket)
        if prefixes and not any(key.startswith(p) for p in prefixes):
            return False
        root = self._root_of(key)
        if root is not None:
            # The folders above one's own (`users/`) show in listings; no other name there does.
            own = self._own(root)
            return key.startswith(own) or (key.endswith("/") and own.startswith(key))
        return True

    def _root_of(self, key: str) -> str | None:
        """The user root `key` is in, or names itself (`users`); None outside them all."""
        return next((r for r in self._roots if key.startswith(r) or key == r.rstrip("/")), None)

    def _prefixes(self, bucket: str) -> list[str]:
        """The allowed prefixes in `bucket`: [""] for the whole bucket, [] if not allowed at all."""
        if not self.allowed:
            return [""]
        return [folder_prefix(prefix) for name, _, prefix in (e.partition("/") for e in self.allowed) if name == bucket]
