"""Reply parsers, registered on the client through ``set_response_callback``.

redis-py calls a parser with the reply as its RESP parser built it, plus the
options the command was sent with. Replies whose shape is the same under both
protocols are parsed by one function in both tables; GETALL is the one reply whose
shape differs: a flat array under RESP2, a map (already a ``dict``) under RESP3 --
except on Redis 6.2, whose module API has no map reply, so there it stays flat.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple, Union

Data = Union[bytes, str]
"""A field or value as the client returns it: ``str`` with decode_responses, else ``bytes``."""

Parser = Callable[..., Any]


def _pairs_to_dict(flat: List[Any]) -> Dict[Data, List[Data]]:
    return dict(zip(flat[::2], flat[1::2]))


def parse_bool(response: int, **options: Any) -> bool:
    return bool(response)


def parse_ok(response: Data, **options: Any) -> bool:
    return response in (b"OK", "OK")


def parse_getall_resp2(response: List[Any], **options: Any) -> Dict[Data, List[Data]]:
    return _pairs_to_dict(response)


def parse_getall_resp3(
    response: Union[Dict[Data, List[Data]], List[Any]], **options: Any
) -> Dict[Data, List[Data]]:
    return response if isinstance(response, dict) else _pairs_to_dict(response)


def parse_scan(response: List[Any], **options: Any) -> Tuple[int, Dict[Data, List[Data]]]:
    cursor, flat = response
    return int(cursor), _pairs_to_dict(flat)


_BOTH_PROTOCOLS: Dict[str, Parser] = {
    "MULTIMAP.CONTAINS": parse_bool,
    "MULTIMAP.EXISTS": parse_bool,
    "MULTIMAP.SET": parse_ok,
    "MULTIMAP.TRIM": parse_ok,
    "MULTIMAP.SCAN": parse_scan,
}

RESP2_CALLBACKS: Dict[str, Parser] = {
    **_BOTH_PROTOCOLS,
    "MULTIMAP.GETALL": parse_getall_resp2,
}

RESP3_CALLBACKS: Dict[str, Parser] = {
    **_BOTH_PROTOCOLS,
    "MULTIMAP.GETALL": parse_getall_resp3,
}
