"""The one canonical form of S3 keys and the access rules every caller uses (`toolpark.storage.policy`)."""

from __future__ import annotations

import pytest

from toolpark import ToolError
from toolpark.contract.identity import Identity
from toolpark.storage.policy import Access, check_key

ALICE = Identity(subject="alice", method="frontend")

HOSTILE = [
    ("/users/bob/x", "starts with '/'"),
    ("//users/bob/x", "starts with '/'"),
    ("users//bob/x", "empty segment"),
    ("users/bob//", "empty segment"),
    ("users/./bob/x", "'.' or '..' segment"),
    ("users/alice/../bob/x", "'.' or '..' segment"),
    ("..", "'.' or '..' segment"),
    ("users\\bob\\x", "backslash"),
    ("a\x00b", "control characters"),
    ("a\nb", "control characters"),
    ("a\x85b", "control characters"),  # NEL, a C1 control
    ("a\x7fb", "control characters"),
    ("", "1 to 1024 bytes"),
    ("k" * 1025, "1 to 1024 bytes"),
    ("é" * 513, "1 to 1024 bytes"),  # 1,026 bytes in UTF-8
]


@pytest.mark.parametrize(("key", "reason"), HOSTILE)
def test_hostile_keys_are_refused_with_the_reason(key: str, reason: str) -> None:
    with pytest.raises(ToolError) as refused:
        check_key(key)
    assert reason in str(refused.value)


@pytest.mark.parametrize("key", ["a", "users/alice/notes.txt", "folder/", "a.b/c..d/.hidden", "über/straße.txt"])
def test_canonical_keys_pass_unchanged(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    ("allowed", "key", "visible"),
    [
        ("docs/public", "public/a.txt", True),
        ("docs/public", "publicity/a.txt", False),  # a prefix entry is a folder
        ("docs/public/", "publicity/a.txt", False),
        ("docs/public*", "publicity/a.txt", True),  # unless the operator asks for a raw prefix
        ("docs", "anything", True),
    ],
)
def test_allowlist_entries_are_folders(allowed: str, key: str, visible: bool) -> None:
    assert Access((allowed,), None, (), ALICE).visible("docs", key) is visible


@pytest.mark.parametrize(
    ("key", "visible"),
    [
        ("users/alice/x", True),
        ("users/", True),  # the folder above one's own shows in listings
        ("users/al", False),  # a name, not a folder, that prefixes one's own folder
        ("users/alice", False),
        ("users/alicex/x", False),
        ("users/bob/x", False),
        ("other/x", True),
    ],
)
def test_user_folders(key: str, visible: bool) -> None:
    assert Access((), None, ("users",), ALICE).visible("docs", key) is visible


def test_every_refusal_of_access_is_a_tool_error() -> None:
    rules = Access(("docs/public",), None, ("users/",), ALICE)
    for bucket, key in [("docs", "/public/a"), ("docs", "publicity/a"), ("other", "public/a"), ("do/cs", "x")]:
        with pytest.raises(ToolError):
            rules.key(rules.bucket(bucket), key)


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("openwebui/f1_notes.pdf", "OpenWebUI-User-Id"),
        ("openwebui/", None),  # the folder itself shows in listings
        ("openwebuix/f1", None),  # a folder, not a raw prefix
        ("users/alice/x", None),
    ],
)
def test_owner_tagged_folders(key: str, tag: str | None) -> None:
    rules = Access((), None, ("users/", "uploads/"), ALICE, ("openwebui=OpenWebUI-User-Id",))
    assert rules.owner_tag(key) == tag


def test_no_tool_writes_in_an_owner_tagged_folder_or_another_users() -> None:
    rules = Access((), None, ("users/", "uploads/"), ALICE, ("openwebui/=OpenWebUI-User-Id",))
    assert rules.writable("docs", "uploads/alice/new.txt") == "uploads/alice/new.txt"
    for key in ("openwebui/f9_mine.pdf", "uploads/bob/new.txt"):
        with pytest.raises(ToolError):
            rules.writable("docs", key)
