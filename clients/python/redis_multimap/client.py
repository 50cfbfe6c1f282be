"""The object that holds a redis-py client and speaks MULTIMAP through it."""

from __future__ import annotations

from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    Union,
    cast,
)

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.connection import DEFAULT_RESP_VERSION  # type: ignore[attr-defined]

from .commands import EncodableT, KeyT, MultiMapCommands
from .parsers import RESP2_CALLBACKS, RESP3_CALLBACKS, Data, Parser

ScanPage = Tuple[int, Dict[Data, List[Data]]]
"""A MULTIMAP.SCAN reply as parsed: the next cursor and the fields found."""

AnyClient = Union[
    redis.Redis, redis.cluster.RedisCluster, redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster
]

def _connection_kwargs(client: AnyClient) -> Mapping[str, Any]:
    if isinstance(client, (redis.Redis, redis.asyncio.Redis)):
        return client.connection_pool.connection_kwargs
    if isinstance(client, redis.cluster.RedisCluster):
        return client.nodes_manager.connection_kwargs
    return client.connection_kwargs


def _callbacks_for(client: AnyClient) -> Dict[str, Parser]:
    # The protocol on the wire, not the one asked for: redis-py 8 speaks RESP3
    # when none is given, earlier versions RESP2.
    protocol = int(_connection_kwargs(client).get("protocol") or DEFAULT_RESP_VERSION)
    return RESP3_CALLBACKS if protocol == 3 else RESP2_CALLBACKS


class MultiMap(MultiMapCommands):
    """MULTIMAP commands on a redis-py client, as ``r.json()`` gives JSON commands.

    ``MultiMap(client)`` takes a ``redis.Redis``, ``redis.cluster.RedisCluster``,
    ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``; for the two
    async ones it returns an :class:`AsyncMultiMap`, whose methods return awaitables.
    It registers the module's reply parsers on the client (``set_response_callback``),
    so replies are parsed the same through ``client.execute_command`` and pipelines.
    """

    client: Any

    def __new__(cls, client: AnyClient) -> "MultiMap":
        if cls is MultiMap and isinstance(
            client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)
        ):
            cls = AsyncMultiMap
        return super().__new__(cls)

    def __init__(self, client: AnyClient) -> None:
        self.client = client
        for command, parser in _callbacks_for(client).items():
            client.set_response_callback(command, parser)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.client.execute_command(*args, **options)

    def pipeline(self, transaction: Optional[bool] = None) -> "MultiMapPipeline":
        """A :class:`MultiMapPipeline` over a new pipeline of the client.
        ``transaction=None`` keeps the client's default: MULTI/EXEC for ``Redis``, none
        for ``RedisCluster`` (whose transactions need every key in one slot)."""
        if transaction is None:
            return MultiMapPipeline(self.client.pipeline())
        return MultiMapPipeline(self.client.pipeline(transaction=transaction))

    def scan_iter(
        self, key: KeyT, match: Optional[EncodableT] = None, count: Optional[int] = None
    ) -> Iterator[Tuple[Data, List[Data]]]:
        """Iterate over ``(field, values)`` with :meth:`scan` until the cursor comes back 0.
        A field present for the whole iteration is seen at least once; on an unchanged
        key exactly once."""
        cursor = 0
        while True:
            # A sync client's reply is the page itself, never an awaitable.
            cursor, chunk = cast(ScanPage, self.scan(key, cursor, match=match, count=count))
            yield from chunk.items()
            if cursor == 0:
                return


class AsyncMultiMap(MultiMap):
    """:class:`MultiMap` over an async client: every method returns an awaitable,
    and :meth:`scan_iter` is an async iterator."""

    async def scan_iter(  # type: ignore[override]
        self, key: KeyT, match: Optional[EncodableT] = None, count: Optional[int] = None
    ) -> AsyncIterator[Tuple[Data, List[Data]]]:
        """Iterate asynchronously over ``(field, values)``, as :meth:`MultiMap.scan_iter`."""
        cursor = 0
        while True:
            cursor, chunk = await cast(
                Awaitable[ScanPage], self.scan(key, cursor, match=match, count=count)
            )
            for item in chunk.items():
                yield item
            if cursor == 0:
                return


class MultiMapPipeline(MultiMapCommands):
    """Queues MULTIMAP commands on a redis-py pipeline; ``execute()`` runs the batch
    and returns the parsed replies in order (an awaitable on async clients).

    The MULTIMAP methods return this object, so calls chain. The redis-py pipeline
    itself is ``pipe``: core commands queued on it join the same batch, in order.
    (A pipeline subclass would have to hide redis-py's ``get``, ``set``, ``delete``,
    ``exists``, ``scan``, ``expire``, ``ttl``... behind the MULTIMAP methods of the
    same names, so the two stay separate objects sharing one queue.)
    """

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    def execute_command(self, *args: Any, **options: Any) -> Any:
        queued = self.pipe.execute_command(*args, **options)
        # After WATCH and before MULTI a redis-py pipeline runs commands at once and
        # returns their reply, which must reach the caller.
        return self if queued is self.pipe else queued

    def execute(self, raise_on_error: bool = True) -> Any:
        """Run the queued commands; returns their parsed replies, in order."""
        return self.pipe.execute(raise_on_error=raise_on_error)

    def __len__(self) -> int:
        return len(self.pipe)

    def __enter__(self) -> "MultiMapPipeline":
        self.pipe.__enter__()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.pipe.__exit__(exc_type, exc, traceback)

    async def __aenter__(self) -> "MultiMapPipeline":
        await self.pipe.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.pipe.__aexit__(exc_type, exc, traceback)
