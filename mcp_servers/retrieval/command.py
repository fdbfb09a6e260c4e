"""`toolpark ingest`, contributed by the retrieval server through the `toolpark.commands` group."""

from __future__ import annotations

import sys

import anyio
import click

from toolpark.mcp_servers.retrieval.ingesting import BATCH_DOCUMENTS, calls, ingest_call, sources

__all__ = ["ingest"]


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--collection", required=True, help="The collection to add to.")
@click.option("--create", is_flag=True, help="Create the collection first if it does not exist.")
@click.option("--namespace", help="With --create: a shared namespace to create it in (default: your own).")
@click.option("--url", "endpoint", default="http://127.0.0.1:8765/retrieval/mcp", show_default=True,
              help="The retrieval server's MCP endpoint.")  # fmt: skip
@click.option("--api-key", envvar="TOOLPARK_API_KEY", help="Bearer key for the server (or TOOLPARK_API_KEY).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Calls in flight at once; the server embeds concurrent calls' documents together.")  # fmt: skip
@click.option("--batch", default=BATCH_DOCUMENTS, show_default=True, type=click.IntRange(1, BATCH_DOCUMENTS),
              help="Small text files per call (ingest_documents); PDFs, HTML and URLs go one to a call.")  # fmt: skip
def ingest(
    inputs: tuple[str, ...],
    collection: str,
    create: bool,
    namespace: str | None,
    endpoint: str,
    api_key: str | None,
    concurrency: int,
    batch: int,
) -> None:
    """Add files, directories (their text, HTML and PDF files) and URLs to a collection.

    Runs through a retrieval server's tools; running it again skips what is already stored unchanged.
    """
    items = list(sources(list(inputs)))
    if not items:
        raise click.ClickException("nothing to ingest: no such files, or no text, HTML or PDF files in the folders")
    counts: dict[str, int] = {}

    from toolpark.clients import http_client  # the MCP SDK: on a call, not for --help

    async def run() -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        async with http_client(endpoint, headers=headers, mode="legacy") as client:
            if create:
                arguments = {"name": collection} | ({"namespace": namespace} if namespace else {})
                made = await client.call_tool("create_collection", arguments)
                if made.is_error and "already exists" not in str(made.content):
                    raise click.ClickException(str(getattr(made.content[0], "text", made.content)))
            pending = calls(items, batch)  # shared by the workers: each takes the next call when it is free
            with click.progressbar(length=len(items), label=f"ingesting into {collection}", file=sys.stderr) as bar:

                async def worker() -> None:
                    for call in pending:
                        for item, ok, status in await ingest_call(client, collection, call):
                            counts[status if ok else "failed"] = counts.get(status if ok else "failed", 0) + 1
                            if not ok:
                                click.echo(f"\n{item.location}: {status}", err=True)
                        bar.update(len(call.sources))

                async with anyio.create_task_group() as group:
                    for _ in range(min(concurrency, len(items))):
                        group.start_soon(worker)

    try:
        anyio.run(run)
    except click.ClickException:
        raise
    except Exception as exc:  # connection refused, 401, ...: say so without a traceback
        raise click.ClickException(f"{endpoint}: {_reason(exc)}") from exc
    click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if counts.get("failed"):
        sys.exit(1)


def _reason(exc: BaseException) -> str:
    """The innermost message of an error, unwrapping task-group exception groups."""
    from toolpark.contract.errors import first_leaf

    exc = first_leaf(exc)
    return f"{type(exc).__name__}: {exc}"
