"""What a caller may touch: allowed buckets and prefixes, valid keys, and each user's own folder.

Keys under `user_root` (default `users/`) belong to users: a caller may read and list only
`users/<its subject>/`, so one user cannot read another's files through any tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from toolpark.contract.errors import ToolError
from toolpark.security.identity import Identity

__all__ = ["Access", "check_key"]


def check_key(key: str) -> str:
    """Refuse keys that play path games or carry control characters."""
    if not key or len(key.encode()) > 1024:
        raise ToolError("An object key must be 1 to 1024 bytes long.")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise ToolError("Object keys may not contain control characters.")
    if any(part in (".", "..") for part in key.split("/")):
        raise ToolError(f"Object key {key!r} has a '.' or '..' segment; name the object by its full key.")
    return key


@dataclass(frozen=True)
class Access:
    allowed: tuple[str, ...]  # "bucket" or "bucket/prefix"
    single_bucket: str | None
    user_root: str | None
    identity: Identity

    @property
    def own_folder(self) -> str | None:
        if self.user_root is None:
            return None
        return f"{self.user_root}{quote(self.identity.subject, safe='')}/"

    def bucket(self, name: str | None) -> str:
        chosen = name or self.single_bucket
        if not chosen:
            raise ToolError("Name a bucket; list_buckets shows the ones you may use.")
        if self.single_bucket and chosen != self.single_bucket:
            raise ToolError(f"This server serves only the bucket {self.single_bucket!r}.")
        if self.allowed and not self._prefixes(chosen):
            raise ToolError(f"Bucket {chosen!r} is not one this server may use; list_buckets shows those.")
        return chosen

    def key(self, bucket: str, key: str) -> str:
        check_key(key)
        if not self.visible(bucket, key):
            raise ToolError(f"Object {key!r} in {bucket!r} is outside what you may read.")
        return key

    def listing_prefix(self, bucket: str, prefix: str) -> str:
        """`prefix` if listing it can show allowed keys; a ToolError naming the allowed prefixes otherwise."""
        if prefix:
            check_key(prefix.rstrip("/") or "x")
        prefixes = self._prefixes(bucket)
        if prefixes and not any(prefix.startswith(p) or p.startswith(prefix) for p in prefixes):
            raise ToolError(f"Prefix {prefix!r} is outside what you may list; allowed: {', '.join(prefixes)}.")
        own = self.own_folder
        if (
            own
            and self.user_root
            and prefix.startswith(self.user_root)
            and not (prefix.startswith(own) or own.startswith(prefix))
        ):
            raise ToolError(f"Prefix {prefix!r} is another user's folder; yours is {own!r}.")
        return prefix

    def visible(self, bucket: str, key: str) -> bool:
        """Whether a key (or folder prefix) may be shown to and read by this caller."""
        prefixes = self._prefixes(bucket)
        if prefixes and not any(key.startswith(p) for p in prefixes):
            return False
        own = self.own_folder
        if own and self.user_root and key.startswith(self.user_root):
            return key.startswith(own) or own.startswith(key)
        return True

    def _prefixes(self, bucket: str) -> list[str]:
        """The allowed prefixes in `bucket`: [""] for the whole bucket, [] if not allowed at all."""
        if not self.allowed:
            return [""]
        found = []
        for entry in self.allowed:
            name, _, prefix = entry.partition("/")
            if name == bucket:
                found.append(prefix)
        return found
