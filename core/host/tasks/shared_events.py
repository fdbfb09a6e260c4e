"""`subscriptions/listen` events shared by the replicas of a server, over PostgreSQL's LISTEN/NOTIFY.

A tool on one replica says the tool list changed (retrieval after `create_collection`); a client's
listen stream may be open on another. The SDK leaves the fan-out to a `SubscriptionBus`: each
endpoint gets one here that delivers to its own streams at once and tells the other replicas
through a NOTIFY, which each of them delivers to theirs. Delivery is what the protocol promises
anyway: best effort, no replay (a client that missed an event re-lists).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from mcp.server.subscriptions import InMemorySubscriptionBus, ServerEvent
from mcp.shared.subscriptions import event_from_wire, event_to_notification

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["SharedEvents"]

logger = logging.getLogger("toolpark.events")

CHANNEL = "toolpark_events"
_MAX_PAYLOAD = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
_RECONNECT_S = 1.0


class _EndpointBus(InMemorySubscriptionBus):
    """The bus of one endpoint: its own streams at once, the other replicas' through PostgreSQL."""

    def __init__(self, events: SharedEvents, endpoint: str) -> None:
        super().__init__()
        self.events = events
        self.endpoint = endpoint

    async def publish(self, event: ServerEvent) -> None:
        await super().publish(event)
        await self.events.tell_others(self.endpoint, event)

    async def deliver(self, event: ServerEvent) -> None:
        """An event another replica published: to this replica's streams only."""
        await super().publish(event)


class SharedEvents:
    """The listen-stream events of the replicas that serve `replicas`, through the database at `url`."""

    def __init__(self, url: str, replicas: str) -> None:
        self.url = url
        self.replicas = replicas
        self.origin = secrets.token_hex(8)  # this process: its own NOTIFYs come back to it, and are skipped
        self._buses: dict[str, _EndpointBus] = {}
        self._sender: AsyncConnection[Any] | None = None
        self._sending = anyio.Lock()

    def bus(self, endpoint: str) -> _EndpointBus:
        """The bus of the endpoint named `endpoint` (a plugin, or the combined one)."""
        return self._buses.setdefault(endpoint, _EndpointBus(self, endpoint))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Listen for the other replicas' events while the host runs (a database that cannot be
        reached at start stops the host, as the shared task ledger does)."""
        async with anyio.create_task_group() as group:
            await group.start(self._listen)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
                if self._sender is not None:
                    await self._sender.close()

    async def tell_others(self, endpoint: str, event: ServerEvent) -> None:
        notification = event_to_notification(event, {}).model_dump(by_alias=True, mode="json", exclude_none=True)
        payload = json.dumps(
            {"origin": self.origin, "replicas": self.replicas, "endpoint": endpoint, **notification},
            separators=(",", ":"),
        )
        if len(payload.encode()) > _MAX_PAYLOAD:
            logger.warning("event for %s too large to share with other replicas; delivered here only", endpoint)
            return
        try:
            async with self._sending:
                if self._sender is None or self._sender.closed:
                    self._sender = await _connect(self.url)
                await self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except Exception:  # a tool that changed something must not fail because the news could not spread
            self._sender = None
            logger.warning("could not tell other replicas of an event on %s", endpoint, exc_info=True)

    async def _listen(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        listener: AsyncConnection[Any] | None = await self._listening()
        task_status.started()
        while True:
            try:
                if listener is None:
                    listener = await self._listening()
                async with listener:
                    async for notice in listener.notifies():
                        await self._received(notice.payload)
            except Exception:  # the database restarted or the network dropped: listen again
                logger.warning("listening for other replicas' events failed; again shortly", exc_info=True)
            listener = None
            await anyio.sleep(_RECONNECT_S)

    async def _listening(self) -> AsyncConnection[Any]:
        listener = await _connect(self.url)
        await listener.execute(f"LISTEN {CHANNEL}")
        return listener

    async def _received(self, payload: str) -> None:
        try:
            message = json.loads(payload)
        except json.JSONDecodeError:
            return
        if message.get("origin") == self.origin or message.get("replicas") != self.replicas:
            return
        bus = self._buses.get(message.get("endpoint", ""))
        event = event_from_wire(message.get("method", ""), message.get("params"))
        if bus is not None and event is not None:
            await bus.deliver(event)


async def _connect(url: str) -> AsyncConnection[Any]:
    try:
        from psycopg import AsyncConnection
    except ImportError as exc:
        raise RuntimeError("shared events need psycopg: pip install 'toolpark[replicas]'") from exc
    return await AsyncConnection.connect(url, autocommit=True)
