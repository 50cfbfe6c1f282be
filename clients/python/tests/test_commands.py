"""Every MULTIMAP method on a standalone server, under RESP2 and RESP3, with bytes
and with text (decode_responses) replies."""

from __future__ import annotations

import datetime
import time

import pytest
import redis
from redis.exceptions import DataError, ResponseError

from redis_multimap import MultiMap


@pytest.fixture
def mm(r: redis.Redis) -> MultiMap:
    return MultiMap(r)


@pytest.fixture
def d(decode: bool):
    """What the client returns for a text value: str with decode_responses, else bytes."""
    return (lambda text: text) if decode else (lambda text: text.encode())


def test_insert_get_values_len(mm: MultiMap, d) -> None:
    assert mm.insert("k", "f", "a", "b") == 2
    assert mm.insert("k", "f", "a") == 3
    assert mm.get("k", "f") == [d("a"), d("b"), d("a")]
    assert mm.values("k", "f") == [d("a"), d("b"), d("a")]
    assert mm.len("k", "f") == 3
    assert mm.get("k", "missing") == []
    assert mm.len("missing", "f") == 0


def test_range(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "a", "b", "c", "d")
    assert mm.range("k", "f", 1, 2) == [d("b"), d("c")]
    assert mm.range("k", "f", -2, -1) == [d("c"), d("d")]
    assert mm.range("k", "f", 0, -1) == [d("a"), d("b"), d("c"), d("d")]
    assert mm.range("k", "f", 5, 9) == []


def test_contains_and_exists_are_bools(mm: MultiMap) -> None:
    mm.insert("k", "f", "a")
    assert mm.contains("k", "f", "a") is True
    assert mm.contains("k", "f", "z") is False
    assert mm.exists("k", "f") is True
    assert mm.exists("k", "g") is False
    assert mm.exists("missing", "f") is False


def test_remove_replace_delete(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "a", "b", "a", "c")
    mm.insert("k", "g", "x")
    mm.insert("k", "h", "y")
    assert mm.remove("k", "f", "a", "z") == 2
    assert mm.get("k", "f") == [d("b"), d("c")]
    assert mm.replace("k", "f", "p", "q", "r") == 3
    assert mm.get("k", "f") == [d("p"), d("q"), d("r")]
    assert mm.delete("k", "g", "h", "nope") == 2
    assert mm.fields("k") == [d("f")]


def test_card_size_fields(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "a", "b")
    mm.insert("k", "g", "c")
    assert mm.card("k") == 2
    assert mm.size("k") == 3
    assert sorted(mm.fields("k")) == [d("f"), d("g")]
    assert (mm.card("missing"), mm.size("missing"), mm.fields("missing")) == (0, 0, [])


def test_getall_is_a_dict_of_lists(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "a", "b")
    mm.insert("k", "g", "c")
    assert mm.getall("k") == {d("f"): [d("a"), d("b")], d("g"): [d("c")]}
    assert mm.getall("missing") == {}


def test_scan_walks_every_field_with_an_int_cursor(mm: MultiMap, d) -> None:
    expected = {d(f"f{i}"): [d(f"v{i}"), d("x")] for i in range(25)}
    for i in range(25):
        mm.insert("k", f"f{i}", f"v{i}", "x")
    seen: dict = {}
    cursor, calls = 0, 0
    while True:
        cursor, chunk = mm.scan("k", cursor, count=5)
        assert isinstance(cursor, int)
        seen.update(chunk)
        calls += 1
        if cursor == 0:
            break
    assert seen == expected
    assert calls > 1
    assert mm.scan("missing") == (0, {})


def test_scan_match(mm: MultiMap, d) -> None:
    for field in ("apple", "avocado", "banana"):
        mm.insert("k", field, "v")
    assert dict(mm.scan_iter("k", match="a*")) == {d("apple"): [d("v")], d("avocado"): [d("v")]}


def test_scan_iter_yields_field_value_pairs(mm: MultiMap, d) -> None:
    for i in range(30):
        mm.insert("k", f"f{i}", f"v{i}")
    pairs = list(mm.scan_iter("k", count=4))
    assert sorted(pairs) == sorted((d(f"f{i}"), [d(f"v{i}")]) for i in range(30))
    assert list(mm.scan_iter("missing")) == []


def test_prepend_and_add(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "c")
    assert mm.prepend("k", "f", "a", "b") == 3
    assert mm.get("k", "f") == [d("a"), d("b"), d("c")]
    assert mm.add("k", "f", "b", "d", "d", "e") == 2
    assert mm.get("k", "f") == [d("a"), d("b"), d("c"), d("d"), d("e")]


def test_pop(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "a", "b", "c", "d")
    assert mm.pop("k", "f") == d("a")
    assert mm.pop("k", "f", right=True) == d("d")
    assert mm.pop("k", "f", count=0) == []
    assert mm.pop("k", "f", count=5, right=True) == [d("c"), d("b")]
    assert mm.pop("k", "f") is None
    assert mm.pop("k", "f", count=2) is None


def test_bpop_pops_without_waiting_when_values_are_there(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "a", "b", "c")
    assert mm.bpop("k", "f", 1) == [d("a")]
    assert mm.bpop("k", "f", datetime.timedelta(seconds=1), count=5, right=True) == [d("c"), d("b")]


def test_bpop_times_out_with_none(mm: MultiMap) -> None:
    started = time.monotonic()
    assert mm.bpop("k", "f", 0.2) is None
    assert time.monotonic() - started >= 0.19


def test_index_set_trim(mm: MultiMap, d) -> None:
    mm.insert("k", "f", "a", "b", "c", "d")
    assert mm.index("k", "f", 1) == d("b")
    assert mm.index("k", "f", -1) == d("d")
    assert mm.index("k", "f", 9) is None
    assert mm.set("k", "f", 0, "z") is True
    with pytest.raises(ResponseError, match="index out of range"):
        mm.set("k", "f", 9, "z")
    with pytest.raises(ResponseError, match="no such key"):
        mm.set("k", "missing", 0, "z")
    assert mm.trim("k", "f", 0, 1) is True
    assert mm.get("k", "f") == [d("z"), d("b")]


def test_pos(mm: MultiMap) -> None:
    mm.insert("k", "f", "a", "b", "c", "b", "b")
    assert mm.pos("k", "f", "b") == 1
    assert mm.pos("k", "f", "b", rank=-1) == 4
    assert mm.pos("k", "f", "b", rank=2) == 3
    assert mm.pos("k", "f", "b", count=0) == [1, 3, 4]
    assert mm.pos("k", "f", "b", count=0, maxlen=2) == [1]
    assert mm.pos("k", "f", "z") is None
    assert mm.pos("k", "f", "z", count=0) == []


def test_expire_ttl_persist_codes(mm: MultiMap) -> None:
    mm.insert("k", "f", "a")
    mm.insert("k", "g", "b")
    assert mm.ttl("k", "f", "missing") == [-1, -2]
    assert mm.expire("k", 100, "f", "missing") == [1, -2]
    assert 99 <= mm.ttl("k", "f")[0] <= 100
    assert 99_000 < mm.pttl("k", "f")[0] <= 100_000
    assert mm.expire("k", 50, "f", "g", nx=True) == [0, 1]
    assert mm.expire("k", 10, "f", xx=True) == [1]
    assert mm.expire("k", 5, "f", gt=True) == [0]
    assert mm.expire("k", 5, "f", lt=True) == [1]
    assert mm.persist("k", "f", "g", "missing") == [1, 1, -2]
    assert mm.persist("k", "f") == [-1]


def test_expire_accepts_timedeltas_and_datetimes(mm: MultiMap) -> None:
    mm.insert("k", "f", "a")
    mm.insert("k", "g", "b")
    assert mm.expire("k", datetime.timedelta(minutes=2), "f") == [1]
    assert 119 <= mm.ttl("k", "f")[0] <= 120
    assert mm.pexpire("k", datetime.timedelta(seconds=30), "f") == [1]
    assert 29_000 < mm.pttl("k", "f")[0] <= 30_000
    assert mm.pexpire("k", 20_000, "f") == [1]
    assert 19_000 < mm.pttl("k", "f")[0] <= 20_000
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    assert mm.expireat("k", at, "f") == [1]
    assert mm.expiretime("k", "f") == [int(at.timestamp())]
    assert mm.pexpireat("k", at, "g") == [1]
    assert mm.pexpiretime("k", "g") == [int(at.timestamp() * 1000)]
    assert mm.expireat("k", int(at.timestamp()) + 5, "g") == [1]
    assert mm.expiretime("k", "g") == [int(at.timestamp()) + 5]
    assert mm.pexpireat("k", int(at.timestamp() * 1000) + 7, "g") == [1]
    assert mm.pexpiretime("k", "g") == [int(at.timestamp() * 1000) + 7]


def test_expire_in_the_past_deletes_the_field(mm: MultiMap) -> None:
    mm.insert("k", "f", "a")
    mm.insert("k", "g", "b")
    assert mm.expire("k", 0, "f") == [2]
    assert mm.pexpireat("k", 1, "g") == [2]
    assert mm.card("k") == 0


def test_more_than_one_expire_condition_is_refused(mm: MultiMap) -> None:
    with pytest.raises(DataError):
        mm.expire("k", 10, "f", nx=True, gt=True)


def test_wrong_type_is_a_response_error(mm: MultiMap, r: redis.Redis) -> None:
    r.set("string", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        mm.getall("string")


def test_getall_is_a_dict_on_the_protocol_redis_py_picks_by_default(server) -> None:
    client = server.client()
    client.flushall()
    mm = MultiMap(client)
    mm.insert("k", "f", "a")
    assert mm.getall("k") == {b"f": [b"a"]}
    assert mm.pipeline().getall("k").execute() == [{b"f": [b"a"]}]
