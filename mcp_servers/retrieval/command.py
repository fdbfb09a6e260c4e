"""`toolpark ingest` and `toolpark reindex`, contributed by the retrieval server through the
`toolpark.commands` group."""

from __future__ import annotations

import sys

import anyio
import click

from toolpark.mcp_servers.retrieval.ingesting import BATCH_DOCUMENTS, calls, ingest_call, sources

__all__ = ["ingest", "reindex"]


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


@click.command()
@click.argument("collection")
@click.option(
    "--namespace", help="The collection's namespace (user:<id>, or a shared one), where several have the name."
)
def reindex(collection: str, namespace: str | None) -> None:
    """Embed a collection again with the retrieval server's embedding model, after that changed.

    Reads the retrieval server's settings (TOOLPARK_RETRIEVAL_*, [plugins.retrieval] in
    toolpark.toml) and its database directly, as the operator. Searches use the old vectors until
    all the new ones are in; stop writing to the collection meanwhile.
    """
    from toolpark.contract.errors import ToolError
    from toolpark.contract.settings import read_config
    from toolpark.host.config import TABLES
    from toolpark.host.runtime import PluginRuntime
    from toolpark.mcp_servers.retrieval.declaration import RetrievalSettings, open_state, plugin
    from toolpark.mcp_servers.retrieval.embeddings import known_dimension

    async def run() -> str:
        settings = PluginRuntime.configure(plugin, read_config(tables=TABLES)).settings
        assert isinstance(settings, RetrievalSettings)
        async with open_state(settings) as state:
            named = [c for c in await state.store.collections(None) if c.name == collection]
            found = [c for c in named if namespace in (None, c.namespace)]
            if len(found) != 1:
                where = ", ".join(sorted(c.namespace for c in named))
                raise click.ClickException(
                    f"no collection {collection!r}" + (f" in {namespace}" if namespace else "") + (
                        f" (it is in {where})" if named and not found else "")
                    if not found else f"{collection!r} is in several namespaces ({where}): name one with --namespace"
                )  # fmt: skip
            target, embedder = found[0], state.embedder
            if target.embedding_model == embedder.model:
                return f"{target.namespace}/{target.name} is embedded with {embedder.model} already: nothing to do"
            dimension = await known_dimension(embedder)
            with click.progressbar(length=1, label=f"embedding {target.name} again", file=sys.stderr) as bar:

                def progress(done: int, total: int) -> None:
                    bar.length = total
                    bar.update(done - bar.pos)

                try:
                    done = await state.store.reembed(
                        target, model=embedder.model, dimension=dimension, embed=embedder.embed,
                        progress=progress,
                    )  # fmt: skip
                except ToolError as exc:
                    raise click.ClickException(str(exc)) from exc
            return (
                f"{target.namespace}/{target.name}: {done} chunks embedded with {embedder.model} "
                f"({dimension} dimensions), before {target.embedding_model} ({target.dimension})"
            )

    try:
        click.echo(anyio.run(run))
    except click.ClickException:
        raise
    except Exception as exc:  # the database or the embedding endpoint unreachable: say so without a traceback
        raise click.ClickException(_reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    """The innermost message of an error, unwrapping task-group exception groups."""
    from toolpark.contract.errors import first_leaf

    exc = first_leaf(exc)
    return f"{type(exc).__name__}: {exc}"
