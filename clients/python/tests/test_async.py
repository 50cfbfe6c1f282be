"""The same methods on redis.asyncio clients return awaitables; scan_iter is an async
iterator and pipelines are awaited."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio

from redis_multimap import AsyncMultiMap, MultiMap

from conftest import Server


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_async_client_runs_every_kind_of_command(server: Server, protocol: int) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis(port=server.port, protocol=protocol)
        try:
            await client.flushall()
            mm = MultiMap(client)
            assert isinstance(mm, AsyncMultiMap)
            assert await mm.insert("k", "f", "a", "b", b"\x00\xff") == 3
            assert await mm.get("k", "f") == [b"a", b"b", b"\x00\xff"]
            assert await mm.values("k", "f") == [b"a", b"b", b"\x00\xff"]
            assert await mm.exists("k", "f") is True
            assert await mm.contains("k", "f", "z") is False
            assert await mm.getall("k") == {b"f": [b"a", b"b", b"\x00\xff"]}
            for i in range(20):
                await mm.insert("k", f"g{i}", str(i))
            seen = {field: values async for field, values in mm.scan_iter("k", match="g*", count=3)}
            assert seen == {f"g{i}".encode(): [str(i).encode()] for i in range(20)}
            assert await mm.set("k", "f", 0, "z") is True
            assert await mm.pop("k", "f", right=True) == b"\x00\xff"
            assert await mm.pos("k", "f", "b", count=0) == [1]
            assert await mm.expire("k", 100, "f", "missing", nx=True) == [1, -2]
            assert await mm.persist("k", "f") == [1]
            started = time.monotonic()
            assert await mm.bpop("k", "empty", 0.2) is None
            assert time.monotonic() - started >= 0.19
            async with mm.pipeline() as pipe:
                pipe.insert("k", "p", "1").getall("k").card("k")
                replies = await pipe.execute()
            assert replies[0] == 1 and replies[1][b"p"] == [b"1"] and replies[2] == 22
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_async_bpop_is_served_by_another_client(server: Server) -> None:
    async def scenario() -> None:
        waiting = redis.asyncio.Redis(port=server.port)
        writing = redis.asyncio.Redis(port=server.port)
        try:
            await writing.flushall()
            pop = asyncio.ensure_future(MultiMap(waiting).bpop("jobs", "q", 10, right=True))
            deadline = time.monotonic() + 5
            while int((await writing.info("clients"))["blocked_clients"]) != 1:
                assert time.monotonic() < deadline, "BPOP never blocked"
                await asyncio.sleep(0.02)
            assert await MultiMap(writing).insert("jobs", "q", "x", "y") == 2
            assert await asyncio.wait_for(pop, 5) == [b"y"]
        finally:
            await waiting.aclose()
            await writing.aclose()

    asyncio.run(scenario())
