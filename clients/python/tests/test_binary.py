"""Fields and values are bytes: nothing is lost on the way in or out."""

from __future__ import annotations

import redis

from redis_multimap import MultiMap

from conftest import Server

AWKWARD = [b"", b"\x00", b"a\x00b", b"\xff\xfe\x80", bytes(range(256)), b"\xc3\x28" * 1000]


def test_binary_values_and_fields_round_trip_through_bytes_clients(server: Server) -> None:
    for protocol in (2, 3):
        client = server.client(protocol=protocol)
        client.flushall()
        mm = MultiMap(client)
        for field in AWKWARD:
            assert mm.insert("k", field, *AWKWARD) == len(AWKWARD)
        assert mm.get("k", b"\xff\xfe\x80") == AWKWARD
        assert mm.getall("k") == {field: AWKWARD for field in AWKWARD}
        assert dict(mm.scan_iter("k", count=2)) == {field: AWKWARD for field in AWKWARD}
        assert mm.pop("k", b"", count=2) == AWKWARD[:2]
        assert mm.index("k", b"\x00", 3) == AWKWARD[3]
        assert mm.contains("k", b"a\x00b", b"\xff\xfe\x80") is True
        assert mm.pos("k", b"a\x00b", b"") == 0


def test_surrogateescape_text_clients_round_trip_invalid_utf8(server: Server) -> None:
    as_text = [value.decode("utf-8", "surrogateescape") for value in AWKWARD]
    for protocol in (2, 3):
        client = server.client(
            protocol=protocol, decode_responses=True, encoding_errors="surrogateescape"
        )
        client.flushall()
        mm = MultiMap(client)
        mm.insert("k", as_text[3], *as_text)
        assert mm.get("k", as_text[3]) == as_text
        assert mm.getall("k") == {as_text[3]: as_text}
        raw = MultiMap(server.client(protocol=protocol))
        assert raw.get("k", AWKWARD[3]) == AWKWARD
