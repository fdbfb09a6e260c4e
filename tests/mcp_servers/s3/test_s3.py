"""The s3 server against a real SeaweedFS started by this test module, through the real HTTP host."""

from __future__ import annotations

import base64
import io
import signal
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from PIL import Image

from toolpark.mcp_servers.s3 import plugin as s3_plugin
from toolpark.operations.embedded import S3Service, seaweedfs
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client

pytestmark = pytest.mark.anyio

FRONTEND = "tpk_frontend"
BIG = 64 * 1024 * 1024
LC_USERS = ("6650a1b2c3d4e5f6a7b8c9d0", "6650a1b2c3d4e5f6a7b8c9d1")  # LibreChat user ids (MongoDB ObjectIds)
LIBRECHAT_ROOTS = "users/,images/,uploads/"  # as the stack renders TOOLPARK_S3_USER_ROOTS beside LibreChat


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as service:
        client = direct(service)
        client.create_bucket(Bucket="docs")
        client.create_bucket(Bucket="other")
        for n in range(150):
            client.put_object(Bucket="docs", Key=f"many/item-{n:03d}.txt", Body=f"item {n}".encode())
        client.put_object(Bucket="docs", Key="big.bin", Body=b"\1" * BIG, ContentType="application/octet-stream")
        client.put_object(Bucket="docs", Key="big.txt", Body=(b"0123456789" * (BIG // 10)), ContentType="text/plain")
        latin = "Grüße aus Köln, café crème, naïve façade. ".encode("iso-8859-1")
        client.put_object(Bucket="docs", Key="latin.txt", Body=latin, ContentType="text/plain; charset=iso-8859-1")
        client.put_object(Bucket="docs", Key="sjis.txt", Body="こんにちは世界、東京タワー。".encode("shift_jis") * 20)
        picture = io.BytesIO()
        Image.new("RGB", (3000, 2000), (200, 30, 30)).save(picture, "PNG")
        client.put_object(Bucket="docs", Key="photo.png", Body=picture.getvalue(), ContentType="image/png")
        pdf = Path(__file__).resolve().parents[2] / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf"
        client.put_object(Bucket="docs", Key="paper.pdf", Body=pdf.read_bytes(), ContentType="application/pdf")
        client.put_object(Bucket="docs", Key="users/alice/diary.txt", Body=b"alice's secrets")
        client.put_object(Bucket="docs", Key="users/bob/plan.txt", Body=b"bob's plan")
        client.put_object(Bucket="other", Key="x.txt", Body=b"elsewhere")
        client.put_object(Bucket="docs", Key="public/ok.txt", Body=b"for everyone")
        client.put_object(Bucket="docs", Key="publicity/leak.txt", Body=b"not public")
        client.put_object(Bucket="docs", Key="users/al", Body=b"a name that is a prefix of alice's folder")
        # As LibreChat's S3 strategy keeps uploads: <images|uploads>/<its user id>/<file id>__<name>.
        client.put_object(Bucket="docs", Key=f"uploads/{LC_USERS[0]}/f1__notes.txt", Body=b"lin's upload")
        client.put_object(Bucket="docs", Key=f"uploads/{LC_USERS[1]}/f2__salary.txt", Body=b"max's salary")
        client.put_object(Bucket="docs", Key=f"images/{LC_USERS[1]}/f3__scan.png", Body=b"max's scan")
        # As Open WebUI's S3 storage keeps uploads (S3_KEY_PREFIX, S3_ENABLE_TAGGING): one folder, tagged.
        for user, name in (("u-ada", "a1_notes.txt"), ("u-bob", "b1_salary.txt"), ("u-ada", "a2_plan.txt")):
            client.put_object(Bucket="docs", Key=f"openwebui/{name}", Body=f"{user}'s {name}".encode(),
                              Tagging=f"OpenWebUI-User-Id={user}&OpenWebUI-File-Id={name[:2]}")  # fmt: skip
        yield service


def direct(service: S3Service) -> Any:
    return boto3.client(
        "s3", endpoint_url=service.endpoint_url, aws_access_key_id=service.access_key_id,
        aws_secret_access_key=service.secret_access_key, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


def wait_until_serving(service: S3Service) -> None:
    """A restarted store answers before its volumes have registered; wait until it reads again."""
    deadline = time.monotonic() + 60
    while True:
        try:
            direct(service).get_object(Bucket="bkt", Key="k.txt")["Body"].read()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def settings(service: S3Service, **more: Any) -> dict[str, Any]:
    return {
        "endpoint_url": service.endpoint_url, "access_key_id": service.access_key_id,
        "secret_access_key": service.secret_access_key, **more,
    }  # fmt: skip


@pytest.fixture
def serve(toolpark_http: Callable[..., RunningHost], store: S3Service) -> Callable[..., RunningHost]:
    def start(**more: Any) -> RunningHost:
        return toolpark_http(
            s3_plugin,
            settings={"s3": settings(store, **more)},
            auth={"api_keys": [{"name": "librechat", "hash": hash_key(FRONTEND), "trusted_frontend": True}]},
        )

    return start


async def call(running: RunningHost, tool: str, user: str = "carol", **arguments: Any) -> Any:
    headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": user}
    async with http_client(running.url("s3"), headers=headers) as client:
        return await client.call_tool(tool, arguments)


def text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if b.type == "text")


async def test_listing_pages_through_more_than_one_page(serve: Callable[..., RunningHost]) -> None:
    running = serve()
    first = (await call(running, "list_objects", bucket="docs", prefix="many/", page_size=100)).structured_content
    assert len(first["objects"]) == 100 and first["next_token"]
    second = (
        await call(running, "list_objects", bucket="docs", prefix="many/", page_size=100,
                   continuation_token=first["next_token"])
    ).structured_content  # fmt: skip
    keys = [o["key"] for o in first["objects"] + second["objects"]]
    assert len(second["objects"]) == 50 and second["next_token"] is None
    assert keys == [f"many/item-{n:03d}.txt" for n in range(150)]
    root = (await call(running, "list_objects", bucket="docs")).structured_content
    assert "many/" in root["folders"] and "users/" in root["folders"]


ODD_KEYS = ["odd/a b.txt", "odd/a+b.txt", "odd/100%.txt", "odd/q?x=1&y=2.txt", "odd/grüße/ü.txt", "odd/~tilde.txt"]


async def test_listings_and_reads_see_keys_as_boto3_does(serve: Callable[..., RunningHost], store: S3Service) -> None:
    """Listings and reads are sent without boto3 (toolpark.storage.reads); keys that need escaping
    (space, plus, percent, query characters, non-ASCII) come back as boto3 lists them, pages included."""
    client = direct(store)
    for n, key in enumerate(ODD_KEYS):
        client.put_object(Bucket="other", Key=key, Body=f"body {n}".encode())
    running = serve()
    pages = [await call(running, "list_objects", bucket="other", prefix="odd/", page_size=4)]
    while token := pages[-1].structured_content["next_token"]:
        pages.append(
            await call(running, "list_objects", bucket="other", prefix="odd/", page_size=4, continuation_token=token)
        )
    expected = client.list_objects_v2(Bucket="other", Prefix="odd/", Delimiter="/")
    listed = [o for page in pages for o in page.structured_content["objects"]]
    assert len(pages) == 2
    assert [(o["key"], o["size"], o["etag"], o["modified"]) for o in listed] == [
        (o["Key"], o["Size"], o["ETag"].strip('"'), o["LastModified"].isoformat()) for o in expected["Contents"]
    ]
    assert [f for page in pages for f in page.structured_content["folders"]] == ["odd/grüße/"]
    for prefix, key in (("odd/a ", "odd/a b.txt"), ("odd/a+", "odd/a+b.txt"), ("odd/q?x=1&", "odd/q?x=1&y=2.txt")):
        found = (await call(running, "list_objects", bucket="other", prefix=prefix)).structured_content
        assert [o["key"] for o in found["objects"]] == [key]
    for n, key in enumerate(ODD_KEYS):
        read = await call(running, "read_object", bucket="other", key=key)
        assert text(read) == f"body {n}", key


async def test_credentials_the_store_refuses_are_named(serve: Callable[..., RunningHost]) -> None:
    running = serve(secret_access_key="not-the-secret")
    listing = await call(running, "list_objects", bucket="docs")
    read = await call(running, "read_object", bucket="docs", key="latin.txt")
    for refused in (listing, read):
        assert refused.is_error and "refused access to 'docs'" in text(refused)


async def test_ranged_read_of_a_large_object_loads_only_the_range(serve: Callable[..., RunningHost]) -> None:
    running = serve(max_read_bytes=100_000)
    tracemalloc.start()
    try:
        result = await call(running, "read_object", bucket="docs", key="big.txt", start=50_000_000, max_bytes=100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    meta = result.structured_content
    assert meta["kind"] == "text" and meta["next_start"] == 50_100_000
    assert text(result).startswith("0123456789" * 10) and "start=50100000" in text(result)
    assert peak < 8 * 1024 * 1024, f"reading 100 kB of a 64 MiB object allocated {peak} bytes"


async def test_text_in_other_charsets(serve: Callable[..., RunningHost]) -> None:
    running = serve()
    latin = await call(running, "read_object", bucket="docs", key="latin.txt")
    sjis = await call(running, "read_object", bucket="docs", key="sjis.txt")
    assert text(latin).startswith("Grüße aus Köln, café crème")
    assert "こんにちは世界、東京タワー。" in text(sjis)


async def test_images_come_back_as_image_content_under_the_pixel_cap(serve: Callable[..., RunningHost]) -> None:
    result = await call(serve(max_output_pixels=600_000), "read_object", bucket="docs", key="photo.png")
    image = next(b for b in result.content if b.type == "image")
    picture = Image.open(io.BytesIO(base64.b64decode(image.data)))
    assert picture.width * picture.height <= 600_000 and abs(picture.width / picture.height - 1.5) < 0.01
    assert picture.getpixel((10, 10)) == (200, 30, 30)


async def test_binaries_are_described_and_documents_read(serve: Callable[..., RunningHost]) -> None:
    running = serve()
    binary = await call(running, "read_object", bucket="docs", key="big.bin")
    document = await call(running, "read_document", bucket="docs", key="paper.pdf")
    assert binary.structured_content["kind"] == "binary" and "is binary" in text(binary)
    assert "--- page 1 ---\nHello, here is some text without a meaning" in text(document)


async def test_presigned_get_downloads_the_object(serve: Callable[..., RunningHost]) -> None:
    result = await call(serve(), "presign", bucket="docs", key="latin.txt", expires_in_s=999_999)
    meta = result.structured_content
    assert meta["expires_in_s"] == 3600
    async with httpx.AsyncClient() as http:
        downloaded = await http.get(meta["url"])
    assert downloaded.status_code == 200 and downloaded.content.startswith("Grüße".encode("iso-8859-1"))


async def test_read_only_by_default(serve: Callable[..., RunningHost]) -> None:
    running = serve()
    async with http_client(running.url("s3"), headers={"Authorization": f"Bearer {FRONTEND}"}) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    put = await call(running, "presign", bucket="docs", key="new.txt", method="PUT")
    assert not {"put_object", "delete_object", "copy_object"} & names
    assert put.is_error and "read-only" in text(put)


async def test_writes_when_enabled_stay_in_the_users_folder(
    serve: Callable[..., RunningHost], store: S3Service
) -> None:
    running = serve(writes_enabled=True)
    own = await call(running, "put_object", user="alice", bucket="docs", key="users/alice/new.txt", text="hi")
    other = await call(running, "put_object", user="alice", bucket="docs", key="users/bob/new.txt", text="hi")
    assert not own.is_error and own.structured_content["size"] == 2
    assert other.is_error and "outside what you may read" in text(other)
    deleted = await call(running, "delete_object", user="alice", bucket="docs", key="users/alice/new.txt")
    assert not deleted.is_error
    assert "Contents" not in direct(store).list_objects_v2(Bucket="docs", Prefix="users/alice/new")


async def test_allowlist_of_buckets_and_prefixes(serve: Callable[..., RunningHost]) -> None:
    running = serve(buckets="docs/many/,docs/users/")
    buckets = (await call(running, "list_buckets")).structured_content["buckets"]
    other = await call(running, "read_object", bucket="other", key="x.txt")
    outside = await call(running, "read_object", bucket="docs", key="latin.txt")
    inside = await call(running, "read_object", bucket="docs", key="many/item-007.txt")
    listing = await call(running, "list_objects", bucket="docs", prefix="")
    assert buckets == ["docs"]
    assert other.is_error and "not one this server may use" in text(other)
    assert outside.is_error and inside.structured_content["kind"] == "text" and text(inside) == "item 7"
    assert set(listing.structured_content["folders"]) == {"many/", "users/"}


async def test_each_user_sees_only_their_own_folder(serve: Callable[..., RunningHost]) -> None:
    running = serve()
    mine = await call(running, "read_object", user="alice", bucket="docs", key="users/alice/diary.txt")
    theirs = await call(running, "read_object", user="alice", bucket="docs", key="users/bob/plan.txt")
    listing = await call(running, "list_objects", user="alice", bucket="docs", prefix="users/")
    peek = await call(running, "list_objects", user="alice", bucket="docs", prefix="users/bob/")
    found = await call(running, "search_keys", user="bob", bucket="docs", pattern="*.txt", prefix="users/")
    assert text(mine) == "alice's secrets"
    assert theirs.is_error and "bob's plan" not in text(theirs)
    assert listing.structured_content["folders"] == ["users/alice/"]
    assert peek.is_error and "another user's folder" in text(peek)
    assert found.structured_content["keys"] == ["users/bob/plan.txt"]


async def test_librechat_uploads_are_each_users_own(serve: Callable[..., RunningHost]) -> None:
    """LibreChat keeps uploads in the stack's bucket, a folder per user id, and names the user in the
    MCP headers it sends: with its folders as user roots, each user reads and lists only their own
    (before, they were everyone's to list and read)."""
    running = serve(user_roots=LIBRECHAT_ROOTS)
    lin, max_ = LC_USERS
    mine = await call(running, "read_object", user=lin, bucket="docs", key=f"uploads/{lin}/f1__notes.txt")
    theirs = await call(running, "read_object", user=lin, bucket="docs", key=f"uploads/{max_}/f2__salary.txt")
    image = await call(running, "head_object", user=lin, bucket="docs", key=f"images/{max_}/f3__scan.png")
    listing = await call(running, "list_objects", user=lin, bucket="docs", prefix="uploads/")
    peek = await call(running, "list_objects", user=lin, bucket="docs", prefix=f"images/{max_}/")
    found = await call(running, "search_keys", user=lin, bucket="docs", pattern="*__*")
    still = await call(running, "read_object", user=lin, bucket="docs", key="users/bob/plan.txt")
    assert not mine.is_error and text(mine) == "lin's upload"
    assert theirs.is_error and "outside what you may read" in text(theirs) and "max's salary" not in text(theirs)
    assert image.is_error and "outside what you may read" in text(image)
    assert listing.structured_content["folders"] == [f"uploads/{lin}/"]
    assert peek.is_error and "another user's folder" in text(peek)
    keys = found.structured_content["keys"]
    assert keys == [f"uploads/{lin}/f1__notes.txt"], keys
    assert still.is_error  # users/ stays a user root beside LibreChat's


async def test_open_webui_uploads_are_read_and_listed_by_the_user_their_tag_names(
    serve: Callable[..., RunningHost],
) -> None:
    running = serve(owner_tags="openwebui/=OpenWebUI-User-Id", writes_enabled=True)
    mine = await call(running, "read_object", user="u-ada", bucket="docs", key="openwebui/a1_notes.txt")
    theirs = await call(running, "read_object", user="u-ada", bucket="docs", key="openwebui/b1_salary.txt")
    head = await call(running, "head_object", user="u-ada", bucket="docs", key="openwebui/b1_salary.txt")
    link = await call(running, "presign", user="u-ada", bucket="docs", key="openwebui/b1_salary.txt")
    listing = await call(running, "list_objects", user="u-ada", bucket="docs", prefix="openwebui/")
    top = await call(running, "list_objects", user="u-ada", bucket="docs", prefix="")
    found = await call(running, "search_keys", user="u-bob", bucket="docs", prefix="openwebui/", pattern="*")
    write = await call(running, "put_object", user="u-ada", bucket="docs", key="openwebui/a3_new.txt", text="x")
    copy = await call(running, "copy_object", user="u-ada", bucket="docs", source_bucket="docs",
                      source_key="openwebui/b1_salary.txt", key="users/u-ada/copy.txt")  # fmt: skip
    assert not mine.is_error and text(mine) == "u-ada's a1_notes.txt"
    for refused in (theirs, head, link):
        assert refused.is_error and "outside what you may read" in text(refused) and "u-bob's" not in text(refused)
    assert [o["key"] for o in listing.structured_content["objects"]] == [
        "openwebui/a1_notes.txt",
        "openwebui/a2_plan.txt",
    ]
    assert "openwebui/" in top.structured_content["folders"]  # the folder shows; what is in it, by owner
    assert found.structured_content["keys"] == ["openwebui/b1_salary.txt"]
    assert write.is_error and "a front end's folder" in text(write)
    assert copy.is_error and "a front end's folder" in text(copy)


async def test_no_user_reads_an_object_named_as_the_user_root(
    serve: Callable[..., RunningHost], store: S3Service
) -> None:
    """`users` (the root itself) and `users/` (a folder marker with a body) are in no one's folder:
    `users` passed the rule, which only looked at keys starting `users/`."""
    client = direct(store)
    client.create_bucket(Bucket="roots")
    # In a bucket of its own: SeaweedFS cannot hold a file and a folder of one name side by side.
    client.put_object(Bucket="roots", Key="users", Body=b"the root's own object")
    running = serve()
    read = await call(running, "read_object", user="alice", bucket="roots", key="users")
    head = await call(running, "head_object", user="alice", bucket="roots", key="users")
    listing = await call(running, "list_objects", user="alice", bucket="roots")
    assert read.is_error and "outside what you may read" in text(read) and "root's own" not in text(read)
    assert head.is_error
    assert "users" not in [entry["key"] for entry in listing.structured_content["objects"]]
    marker = await call(running, "read_object", user="alice", bucket="docs", key="users/")
    assert marker.is_error and "outside what you may read" in text(marker)


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../b", "bad\nkey", "x\x00y", "/many/item-001.txt", "a\\b"])
async def test_key_games_are_refused(serve: Callable[..., RunningHost], key: str) -> None:
    result = await call(serve(), "read_object", bucket="docs", key=key)
    assert result.is_error and any(word in text(result) for word in ("segment", "control characters", "backslash"))


@pytest.mark.parametrize("key", ["/users/bob/plan.txt", "users//bob/plan.txt", "//users/bob/plan.txt"])
async def test_no_key_spelling_reaches_another_users_folder(
    serve: Callable[..., RunningHost], store: S3Service, key: str
) -> None:
    """Regression: SeaweedFS reads `docs//users/bob/...` as `users/bob/...`, so a leading `/` or an
    empty segment once slipped past the user-folder rule on every tool that takes a key."""
    if key.startswith("/"):  # the store itself does read the spelling as bob's object
        assert direct(store).get_object(Bucket="docs", Key=key)["Body"].read() == b"bob's plan"
    running = serve(writes_enabled=True)
    attempts = [
        ("read_object", {"key": key}), ("head_object", {"key": key}), ("presign", {"key": key}),
        ("read_document", {"key": key}), ("put_object", {"key": key, "text": "overwritten"}),
        ("copy_object", {"source_key": key, "key": "users/alice/stolen.txt"}), ("delete_object", {"key": key}),
    ]  # fmt: skip
    for tool, arguments in attempts:
        result = await call(running, tool, user="alice", bucket="docs", **arguments)
        assert result.is_error and "bob's plan" not in text(result), (tool, text(result))
    assert direct(store).get_object(Bucket="docs", Key="users/bob/plan.txt")["Body"].read() == b"bob's plan"
    listing = direct(store).list_objects_v2(Bucket="docs", Prefix="users/alice/")
    assert "users/alice/stolen.txt" not in {o["Key"] for o in listing.get("Contents", [])}


async def test_a_name_that_prefixes_ones_folder_is_not_ones_own(serve: Callable[..., RunningHost]) -> None:
    result = await call(serve(), "read_object", user="alice", bucket="docs", key="users/al")
    assert result.is_error and "outside what you may read" in text(result)


async def test_an_allowlist_prefix_is_a_folder(serve: Callable[..., RunningHost]) -> None:
    running = serve(buckets="docs/public")
    inside = await call(running, "read_object", bucket="docs", key="public/ok.txt")
    leak = await call(running, "read_object", bucket="docs", key="publicity/leak.txt")
    signed = await call(running, "presign", bucket="docs", key="publicity/leak.txt")
    listing = await call(running, "list_objects", bucket="docs", prefix="pub", delimiter="")
    found = await call(running, "search_keys", bucket="docs", pattern="*.txt", prefix="pub")
    assert text(inside) == "for everyone"
    assert leak.is_error and signed.is_error and "not public" not in text(leak)
    assert [o["key"] for o in listing.structured_content["objects"]] == ["public/ok.txt"]
    assert found.structured_content["keys"] == ["public/ok.txt"]
    raw = serve(buckets="docs/public*")  # the operator's explicit raw prefix
    assert text(await call(raw, "read_object", bucket="docs", key="publicity/leak.txt")) == "not public"


async def test_missing_key_and_bucket_are_clear_errors(serve: Callable[..., RunningHost]) -> None:
    running = serve()
    key = await call(running, "read_object", bucket="docs", key="nope.txt")
    bucket = await call(running, "list_objects", bucket="nope-bucket")
    assert key.is_error and "No object 'nope.txt' in bucket 'docs'" in text(key)
    assert bucket.is_error and "No bucket named 'nope-bucket'" in text(bucket)


async def test_endpoint_down_mid_run_then_back(toolpark_http: Callable[..., RunningHost], tmp_path: Path) -> None:
    with seaweedfs(tmp_path) as service:
        direct(service).create_bucket(Bucket="bkt")
        direct(service).put_object(Bucket="bkt", Key="k.txt", Body=b"still here")
        running = toolpark_http(s3_plugin, settings={"s3": settings(service)})
        async with http_client(running.url("s3")) as client:
            assert text(await client.call_tool("read_object", {"bucket": "bkt", "key": "k.txt"})) == "still here"
        assert (await running.get("/readyz")).status_code == 200
        service.process.send_signal(signal.SIGSTOP)  # frozen: connections open, nothing answers
        try:
            began = time.monotonic()
            frozen = await running.get("/readyz")
            assert time.monotonic() - began < 10, "/readyz must answer while the store hangs"
        finally:
            service.process.send_signal(signal.SIGCONT)
        assert frozen.status_code == 503 and "object store" in frozen.json()["plugins"]["s3"]["detail"]
    async with http_client(running.url("s3")) as client:
        down = await client.call_tool("read_object", {"bucket": "bkt", "key": "k.txt"})
    assert down.is_error and "unreachable" in text(down)
    gone = await running.get("/readyz")
    assert gone.status_code == 503 and "object store" in gone.json()["plugins"]["s3"]["detail"]
    with seaweedfs(tmp_path, ports=service.ports) as again:
        wait_until_serving(again)
        async with http_client(running.url("s3")) as client:
            back = await client.call_tool("read_object", {"bucket": "bkt", "key": "k.txt"})
        assert (await running.get("/readyz")).status_code == 200
    assert not back.is_error and text(back) == "still here"


async def test_a_read_the_store_never_answers_ends_at_the_call_timeout(
    toolpark_http: Callable[..., RunningHost], tmp_path: Path
) -> None:
    """Reads are sent on the event loop, so the call's timeout cancels one the store never answers
    (a read in a worker thread held its call until the 30 s socket timeout), and the connection it
    was on is not reused."""
    with seaweedfs(tmp_path) as service:
        direct(service).create_bucket(Bucket="bkt")
        direct(service).put_object(Bucket="bkt", Key="k.txt", Body=b"still here")
        running = toolpark_http(s3_plugin, settings={"s3": settings(service, call_timeout_s=2)})
        async with http_client(running.url("s3")) as client:
            assert text(await client.call_tool("read_object", {"bucket": "bkt", "key": "k.txt"})) == "still here"
            service.process.send_signal(signal.SIGSTOP)  # frozen: connections open, nothing answers
            try:
                began = time.monotonic()
                frozen = await client.call_tool("read_object", {"bucket": "bkt", "key": "k.txt"})
                waited = time.monotonic() - began
            finally:
                service.process.send_signal(signal.SIGCONT)
            again = await client.call_tool("read_object", {"bucket": "bkt", "key": "k.txt"})
    assert frozen.is_error and "did not finish within 2 s" in text(frozen) and waited < 10, (waited, text(frozen))
    assert not again.is_error and text(again) == "still here"


async def test_extract_reads_s3_uris_under_the_same_rules(
    toolpark_http: Callable[..., RunningHost], store: S3Service
) -> None:
    from toolpark.mcp_servers.extract import plugin as extract

    running = toolpark_http(
        extract,
        documents={"workers": 1},
        settings={"extract": {"s3_endpoint_url": store.endpoint_url, "s3_access_key_id":
                              store.access_key_id, "s3_secret_access_key": store.secret_access_key,
                              "s3_user_roots": LIBRECHAT_ROOTS}},
        auth={"api_keys": [{"name": "librechat", "hash": hash_key(FRONTEND), "trusted_frontend": True}]},
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": "alice"}
    async with http_client(running.url("extract"), headers=headers) as client:
        paper = await client.call_tool("extract_text", {"url": "s3://docs/paper.pdf", "pages": "1"})
        theirs = await client.call_tool("extract_text", {"url": "s3://docs/users/bob/plan.txt"})
        slashed = await client.call_tool("extract_text", {"url": "s3://docs//users/bob/plan.txt"})
        upload = await client.call_tool("extract_text", {"url": f"s3://docs/uploads/{LC_USERS[1]}/f2__salary.txt"})
    assert not paper.is_error and "Hello, here is some text without a meaning" in text(paper)
    assert upload.is_error and "outside what you may read" in text(upload)  # a LibreChat user's upload
    assert theirs.is_error and "outside what you may read" in text(theirs)
    assert slashed.is_error and "empty segment" in text(slashed)


async def test_retrieval_ingests_s3_uris(
    toolpark_http: Callable[..., RunningHost], store: S3Service, tmp_path: Path
) -> None:
    from toolpark.mcp_servers.retrieval import plugin as retrieval
    from toolpark.operations.embedded import postgres

    with postgres(tmp_path / "pg") as database:
        running = toolpark_http(
            retrieval,
            settings={"retrieval": {"database_url": database.url, "s3_endpoint_url": store.endpoint_url,
                                    "s3_access_key_id": store.access_key_id,
                                    "s3_secret_access_key": store.secret_access_key}},
        )  # fmt: skip
        async with http_client(running.url("retrieval")) as client:
            await client.call_tool("create_collection", {"name": "from-s3"})
            added = await client.call_tool("ingest", {"collection": "from-s3", "url": "s3://docs/paper.pdf"})
            found = await client.call_tool("search", {"collection": "from-s3", "query": "blind text font", "k": 1})
    assert not added.is_error, text(added)
    citation = found.structured_content["passages"][0]["citation"]
    assert citation["source_uri"] == "s3://docs/paper.pdf" and citation["page"] is not None
