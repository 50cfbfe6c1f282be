"""Pipelines batch MULTIMAP commands, with core commands in the same batch, and parse
their replies as the client does."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import WatchError

from redis_multimap import MultiMap


@pytest.fixture(params=[True, False], ids=["transaction", "no-transaction"])
def transaction(request) -> bool:
    return request.param


def test_pipeline_parses_replies_like_the_client(r: redis.Redis, transaction: bool, decode: bool) -> None:
    d = (lambda text: text) if decode else (lambda text: text.encode())
    mm = MultiMap(r)
    with mm.pipeline(transaction=transaction) as pipe:
        pipe.insert("k", "f", "a", "b").insert("k", "g", "c")
        pipe.pipe.set("plain", "core")
        pipe.getall("k").exists("k", "f").contains("k", "f", "z")
        pipe.scan("k").pop("k", "f").set("k", "g", 0, "z").trim("k", "g", 0, 0)
        pipe.expire("k", 100, "g").ttl("k", "g")
        assert len(pipe) == 12
        replies = pipe.execute()
    assert replies == [
        2, 1, True,
        {d("f"): [d("a"), d("b")], d("g"): [d("c")]}, True, False,
        (0, {d("f"): [d("a"), d("b")], d("g"): [d("c")]}), d("a"), True, True,
        [1], [100],
    ]
    assert r.get("plain") == d("core")


def test_transaction_is_atomic_under_watch(r: redis.Redis) -> None:
    mm = MultiMap(r)
    mm.insert("k", "f", "a")
    with mm.pipeline() as pipe:
        pipe.pipe.watch("k")
        # Between WATCH and MULTI commands run at once and give their reply.
        assert pipe.len("k", "f") == 1
        pipe.pipe.multi()
        pipe.insert("k", "f", "b")
        MultiMap(r.client()).insert("k", "f", "sneaked in")
        with pytest.raises(WatchError):
            pipe.execute()
    assert mm.len("k", "f") == 2


def test_errors_come_back_in_place_when_not_raised(r: redis.Redis) -> None:
    mm = MultiMap(r)
    r.set("string", "x")
    replies = mm.pipeline(transaction=False).insert("k", "f", "a").getall("string").len("k", "f").execute(
        raise_on_error=False
    )
    assert replies[0] == 1 and replies[2] == 1
    assert isinstance(replies[1], redis.ResponseError) and "WRONGTYPE" in str(replies[1])
