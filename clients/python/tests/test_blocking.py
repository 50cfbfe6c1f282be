"""BPOP waits for values another client brings."""

from __future__ import annotations

import threading
import time

import redis

from redis_multimap import MultiMap

from conftest import Server, wait_for


def _blocked_clients(client: redis.Redis) -> int:
    return int(client.info("clients")["blocked_clients"])


def test_bpop_is_served_by_another_clients_insert(server: Server) -> None:
    server.client().flushall()
    waiter = MultiMap(server.client())
    writer = MultiMap(server.client())
    result: dict = {}

    def wait() -> None:
        result["reply"] = waiter.bpop("jobs", "pending", 10, count=2)

    thread = threading.Thread(target=wait)
    started = time.monotonic()
    thread.start()
    wait_for(lambda: _blocked_clients(writer.client) == 1, 5, "BPOP to block")
    assert writer.insert("jobs", "pending", "job-1", "job-2", "job-3") == 3
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert result["reply"] == [b"job-1", b"job-2"]
    assert time.monotonic() - started < 5
    assert writer.get("jobs", "pending") == [b"job-3"]
