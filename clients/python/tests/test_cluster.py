"""Through Redis Cluster: keys route to the node owning their slot, sync and async."""

from __future__ import annotations

import asyncio
import threading
from typing import Dict, List

import pytest
import redis.asyncio.cluster
import redis.cluster

from redis_multimap import AsyncMultiMap, MultiMap

from conftest import Server, wait_for


def _key_per_node(client: redis.cluster.RedisCluster) -> List[str]:
    """One key owned by each master, so a test touches every node."""
    by_node: Dict[str, str] = {}
    for i in range(1000):
        key = f"key:{i}"
        by_node.setdefault(client.get_node_from_key(key).name, key)
    assert len(by_node) == 3
    return sorted(by_node.values())


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def rc(cluster_port: int, request) -> redis.cluster.RedisCluster:
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster_port, protocol=request.param, socket_timeout=10)
    client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    yield client
    client.close()


def test_commands_route_to_the_node_of_each_key(rc: redis.cluster.RedisCluster) -> None:
    mm = MultiMap(rc)
    keys = _key_per_node(rc)
    for key in keys:
        assert mm.insert(key, "f", key, "b") == 2
        assert mm.add(key, "g", "x") == 1
    for key in keys:
        node = rc.get_node_from_key(key)
        direct = redis.Redis(port=node.port)
        assert direct.execute_command("MULTIMAP.GET", key, "f") == [key.encode(), b"b"]
        assert mm.getall(key) == {b"f": [key.encode(), b"b"], b"g": [b"x"]}
        assert dict(mm.scan_iter(key, count=1)) == {b"f": [key.encode(), b"b"], b"g": [b"x"]}
        assert mm.exists(key, "g") is True
        assert mm.expire(key, 100, "f", "nope") == [1, -2]
        assert mm.pop(key, "f", count=5) == [key.encode(), b"b"]


def test_cluster_pipeline_spans_nodes(rc: redis.cluster.RedisCluster) -> None:
    mm = MultiMap(rc)
    keys = _key_per_node(rc)
    pipe = mm.pipeline()
    for key in keys:
        pipe.insert(key, "f", "v").getall(key).contains(key, "f", "v")
    assert pipe.execute() == [1, {b"f": [b"v"]}, True] * 3


def test_cluster_transaction_on_one_slot(rc: redis.cluster.RedisCluster) -> None:
    mm = MultiMap(rc)
    with mm.pipeline(transaction=True) as pipe:
        pipe.insert("{user:1}tags", "f", "a").insert("{user:1}more", "f", "b")
        pipe.getall("{user:1}tags").exists("{user:1}more", "f")
        assert pipe.execute() == [1, 1, {b"f": [b"a"]}, True]


def test_cluster_bpop_served_by_another_client(rc: redis.cluster.RedisCluster, cluster: List[Server]) -> None:
    mm = MultiMap(rc)
    key = _key_per_node(rc)[2]
    node = redis.Redis(port=rc.get_node_from_key(key).port)
    waiter = MultiMap(redis.cluster.RedisCluster(host="127.0.0.1", port=cluster[0].port, socket_timeout=10))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(reply=waiter.bpop(key, "q", 10)))
    thread.start()
    wait_for(lambda: int(node.info("clients")["blocked_clients"]) == 1, 5, "BPOP to block")
    assert mm.insert(key, "q", "job") == 1
    thread.join(timeout=10)
    assert result["reply"] == [b"job"]
    assert mm.bpop(key, "q", 0.1) is None
    waiter.client.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_async_cluster(cluster_port: int, protocol: int) -> None:
    async def scenario() -> None:
        client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=cluster_port, protocol=protocol)
        try:
            await client.flushall(target_nodes=redis.asyncio.cluster.RedisCluster.PRIMARIES)
            mm = MultiMap(client)
            assert isinstance(mm, AsyncMultiMap)
            keys = [f"key:{i}" for i in range(12)]
            assert len({client.get_node_from_key(key).name for key in keys}) == 3
            for key in keys:
                assert await mm.insert(key, "f", "a", key) == 2
            for key in keys:
                assert await mm.getall(key) == {b"f": [b"a", key.encode()]}
                assert [pair async for pair in mm.scan_iter(key)] == [(b"f", [b"a", key.encode()])]
                assert await mm.exists(key, "f") is True
            pipe = mm.pipeline()
            for key in keys:
                pipe.len(key, "f").getall(key)
            replies = await pipe.execute()
            assert replies == [r for key in keys for r in (2, {b"f": [b"a", key.encode()]})]
            assert await mm.bpop(keys[0], "empty", 0.1) is None
        finally:
            await client.aclose()

    asyncio.run(scenario())
