"""The MULTIMAP commands as methods, shared by the client object and its pipelines."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

from redis.exceptions import DataError

from .parsers import Data

_T = TypeVar("_T")

Result = Union[_T, Awaitable[_T]]
"""What a method returns: the parsed reply on a sync client, an awaitable of it on an
async one. (In a pipeline a method queues the command and returns the pipeline.)"""

KeyT = Union[bytes, str, memoryview]
EncodableT = Union[bytes, bytearray, memoryview, str, int, float]
Seconds = Union[int, datetime.timedelta]
Milliseconds = Union[int, datetime.timedelta]
UnixTime = Union[int, datetime.datetime]

COMMANDS: Mapping[str, str] = {
    "multimap.insert": "insert",
    "multimap.get": "get",
    "multimap.values": "values",
    "multimap.len": "len",
    "multimap.range": "range",
    "multimap.contains": "contains",
    "multimap.exists": "exists",
    "multimap.remove": "remove",
    "multimap.replace": "replace",
    "multimap.del": "delete",
    "multimap.card": "card",
    "multimap.size": "size",
    "multimap.fields": "fields",
    "multimap.getall": "getall",
    "multimap.scan": "scan",
    "multimap.prepend": "prepend",
    "multimap.add": "add",
    "multimap.pop": "pop",
    "multimap.bpop": "bpop",
    "multimap.index": "index",
    "multimap.set": "set",
    "multimap.trim": "trim",
    "multimap.pos": "pos",
    "multimap.expire": "expire",
    "multimap.pexpire": "pexpire",
    "multimap.expireat": "expireat",
    "multimap.pexpireat": "pexpireat",
    "multimap.ttl": "ttl",
    "multimap.pttl": "pttl",
    "multimap.expiretime": "expiretime",
    "multimap.pexpiretime": "pexpiretime",
    "multimap.persist": "persist",
}
"""Every MULTIMAP command the module has, mapped to the method that sends it."""


def _direction(right: bool) -> str:
    return "RIGHT" if right else "LEFT"


def _condition(nx: bool, xx: bool, gt: bool, lt: bool) -> List[str]:
    chosen = [name for name, flag in (("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt)) if flag]
    if len(chosen) > 1:
        raise DataError("Only one of nx, xx, gt and lt may be given")
    return chosen


def _whole_seconds(time: Seconds) -> int:
    if isinstance(time, datetime.timedelta):
        return int(time.total_seconds())
    return time


def _whole_milliseconds(time: Milliseconds) -> int:
    if isinstance(time, datetime.timedelta):
        return int(time.total_seconds() * 1000)
    return time


def _unix_seconds(time: UnixTime) -> int:
    if isinstance(time, datetime.datetime):
        return int(time.timestamp())
    return time


def _unix_milliseconds(time: UnixTime) -> int:
    if isinstance(time, datetime.datetime):
        return int(time.timestamp() * 1000)
    return time


class MultiMapCommands:
    """One method per MULTIMAP command, over whatever ``execute_command`` the host has:
    a client runs the command, a pipeline queues it."""

    # Empty slots let a pipeline class with __slots__ (redis.asyncio's cluster
    # pipeline) take this mixin without changing its instance layout.
    __slots__ = ()

    if TYPE_CHECKING:

        def execute_command(self, *args: Any, **options: Any) -> Any: ...

    # -- the map -----------------------------------------------------------

    def insert(self, key: KeyT, field: EncodableT, *values: EncodableT) -> Result[int]:
        """Append ``values`` to ``field``, creating key and field as needed.
        Returns the number of values in the field afterwards."""
        return self.execute_command("MULTIMAP.INSERT", key, field, *values)

    def get(self, key: KeyT, field: EncodableT) -> Result[List[Data]]:
        """Return every value of ``field`` in insertion order (``[]`` if it is missing)."""
        return self.execute_command("MULTIMAP.GET", key, field)

    def values(self, key: KeyT, field: EncodableT) -> Result[List[Data]]:
        """Return every value of ``field`` in insertion order, as :meth:`get`, through the
        module's alias command MULTIMAP.VALUES."""
        return self.execute_command("MULTIMAP.VALUES", key, field)

    def len(self, key: KeyT, field: EncodableT) -> Result[int]:
        """Return the number of values in ``field`` (0 if it is missing)."""
        return self.execute_command("MULTIMAP.LEN", key, field)

    def range(self, key: KeyT, field: EncodableT, start: int, end: int) -> Result[List[Data]]:
        """Return the values of ``field`` from index ``start`` to ``end`` inclusive,
        negative indexes counting from the end, as ``lrange`` does."""
        return self.execute_command("MULTIMAP.RANGE", key, field, start, end)

    def contains(self, key: KeyT, field: EncodableT, value: EncodableT) -> Result[bool]:
        """Return whether ``field`` holds ``value``."""
        return self.execute_command("MULTIMAP.CONTAINS", key, field, value)

    def exists(self, key: KeyT, field: EncodableT) -> Result[bool]:
        """Return whether ``field`` exists (holds at least one value)."""
        return self.execute_command("MULTIMAP.EXISTS", key, field)

    def remove(self, key: KeyT, field: EncodableT, *values: EncodableT) -> Result[int]:
        """Remove every occurrence of each of ``values`` from ``field``.
        Returns the number of values removed."""
        return self.execute_command("MULTIMAP.REMOVE", key, field, *values)

    def replace(self, key: KeyT, field: EncodableT, *values: EncodableT) -> Result[int]:
        """Make ``field`` hold exactly ``values`` (clearing its expiry).
        Returns the number of values in the field afterwards."""
        return self.execute_command("MULTIMAP.REPLACE", key, field, *values)

    def delete(self, key: KeyT, *fields: EncodableT) -> Result[int]:
        """Delete whole ``fields`` (MULTIMAP.DEL). Returns the number of fields removed."""
        return self.execute_command("MULTIMAP.DEL", key, *fields)

    def card(self, key: KeyT) -> Result[int]:
        """Return the number of fields (0 if the key is missing)."""
        return self.execute_command("MULTIMAP.CARD", key)

    def size(self, key: KeyT) -> Result[int]:
        """Return the number of values over all fields (0 if the key is missing)."""
        return self.execute_command("MULTIMAP.SIZE", key)

    def fields(self, key: KeyT) -> Result[List[Data]]:
        """Return every field name, in no particular order."""
        return self.execute_command("MULTIMAP.FIELDS", key)

    def getall(self, key: KeyT) -> Result[Dict[Data, List[Data]]]:
        """Return a dict of every field to its list of values (``{}`` if the key is
        missing), whichever protocol the connection speaks."""
        return self.execute_command("MULTIMAP.GETALL", key)

    def scan(
        self,
        key: KeyT,
        cursor: int = 0,
        match: Optional[EncodableT] = None,
        count: Optional[int] = None,
    ) -> Result[Tuple[int, Dict[Data, List[Data]]]]:
        """Visit some fields, as ``hscan`` does. Returns ``(next_cursor, {field: values})``;
        start with cursor 0 and stop when the returned cursor is 0. ``match`` keeps
        the fields matching a glob pattern; ``count`` hints how many fields to visit."""
        args: List[Any] = ["MULTIMAP.SCAN", key, cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        return self.execute_command(*args)

    # -- fields as lists ---------------------------------------------------

    def prepend(self, key: KeyT, field: EncodableT, *values: EncodableT) -> Result[int]:
        """Add ``values`` at the front of ``field``, keeping their order.
        Returns the number of values in the field afterwards."""
        return self.execute_command("MULTIMAP.PREPEND", key, field, *values)

    def add(self, key: KeyT, field: EncodableT, *values: EncodableT) -> Result[int]:
        """Append those of ``values`` that ``field`` does not hold yet, each once.
        Returns the number of values appended."""
        return self.execute_command("MULTIMAP.ADD", key, field, *values)

    def pop(
        self, key: KeyT, field: EncodableT, count: Optional[int] = None, right: bool = False
    ) -> Result[Union[Data, List[Data], None]]:
        """Remove and return values from the front of ``field`` (the back if ``right``),
        as ``lpop``/``rpop``. Without ``count``: the value, or None. With ``count``: a
        list of up to ``count`` values in the order popped, or None if the field is
        missing."""
        args: List[Any] = ["MULTIMAP.POP", key, field, _direction(right)]
        if count is not None:
            args += ["COUNT", count]
        return self.execute_command(*args)

    def bpop(
        self,
        key: KeyT,
        field: EncodableT,
        timeout: Union[float, datetime.timedelta],
        count: Optional[int] = None,
        right: bool = False,
    ) -> Result[Optional[List[Data]]]:
        """:meth:`pop` that waits up to ``timeout`` seconds (0: for ever) for values.
        Returns the list of values popped (1 to ``count``, 1 without it), or None when
        the timeout runs out. The client's ``socket_timeout`` must outlast ``timeout``."""
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        args: List[Any] = ["MULTIMAP.BPOP", key, field, _direction(right), timeout]
        if count is not None:
            args += ["COUNT", count]
        return self.execute_command(*args)

    def index(self, key: KeyT, field: EncodableT, index: int) -> Result[Optional[Data]]:
        """Return the value at ``index`` (negative counts from the end), or None."""
        return self.execute_command("MULTIMAP.INDEX", key, field, index)

    def set(self, key: KeyT, field: EncodableT, index: int, value: EncodableT) -> Result[bool]:
        """Replace the value at ``index``, as ``lset``. Returns True; raises
        ResponseError when the field is missing or the index out of range."""
        return self.execute_command("MULTIMAP.SET", key, field, index, value)

    def trim(self, key: KeyT, field: EncodableT, start: int, end: int) -> Result[bool]:
        """Keep only the values from ``start`` to ``end`` inclusive, as ``ltrim``. Returns True."""
        return self.execute_command("MULTIMAP.TRIM", key, field, start, end)

    def pos(
        self,
        key: KeyT,
        field: EncodableT,
        value: EncodableT,
        rank: Optional[int] = None,
        count: Optional[int] = None,
        maxlen: Optional[int] = None,
    ) -> Result[Union[int, List[int], None]]:
        """Return where ``field`` holds ``value``, as ``lpos``: without ``count`` the
        first index or None; with ``count`` a list of up to ``count`` indexes (0: all).
        ``rank`` starts from the rank-th match (negative: from the back); ``maxlen``
        caps how many values are looked at."""
        args: List[Any] = ["MULTIMAP.POS", key, field, value]
        if rank is not None:
            args += ["RANK", rank]
        if count is not None:
            args += ["COUNT", count]
        if maxlen is not None:
            args += ["MAXLEN", maxlen]
        return self.execute_command(*args)

    # -- field expiration --------------------------------------------------

    def _set_expiry(
        self,
        command: str,
        key: KeyT,
        time: int,
        fields: Tuple[EncodableT, ...],
        nx: bool,
        xx: bool,
        gt: bool,
        lt: bool,
    ) -> Any:
        condition = _condition(nx, xx, gt, lt)
        return self.execute_command(command, key, time, *condition, "FIELDS", len(fields), *fields)

    def _field_times(self, command: str, key: KeyT, fields: Tuple[EncodableT, ...]) -> Any:
        return self.execute_command(command, key, "FIELDS", len(fields), *fields)

    def expire(
        self,
        key: KeyT,
        seconds: Seconds,
        *fields: EncodableT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Result[List[int]]:
        """Make ``fields`` expire in ``seconds`` (an int or a timedelta), as ``hexpire``.
        ``nx``/``xx``/``gt``/``lt`` (at most one) set a condition. Returns one code per
        field: -2 no such field, 0 condition not met, 1 set, 2 deleted (time not in
        the future)."""
        return self._set_expiry(
            "MULTIMAP.EXPIRE", key, _whole_seconds(seconds), fields, nx, xx, gt, lt
        )

    def pexpire(
        self,
        key: KeyT,
        milliseconds: Milliseconds,
        *fields: EncodableT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Result[List[int]]:
        """:meth:`expire` in milliseconds (an int or a timedelta). Returns one code per field."""
        return self._set_expiry(
            "MULTIMAP.PEXPIRE", key, _whole_milliseconds(milliseconds), fields, nx, xx, gt, lt
        )

    def expireat(
        self,
        key: KeyT,
        when: UnixTime,
        *fields: EncodableT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Result[List[int]]:
        """Make ``fields`` expire at ``when`` (Unix seconds or a datetime).
        Returns one code per field, as :meth:`expire`."""
        return self._set_expiry(
            "MULTIMAP.EXPIREAT", key, _unix_seconds(when), fields, nx, xx, gt, lt
        )

    def pexpireat(
        self,
        key: KeyT,
        when: UnixTime,
        *fields: EncodableT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Result[List[int]]:
        """Make ``fields`` expire at ``when`` (Unix milliseconds or a datetime).
        Returns one code per field, as :meth:`expire`."""
        return self._set_expiry(
            "MULTIMAP.PEXPIREAT", key, _unix_milliseconds(when), fields, nx, xx, gt, lt
        )

    def ttl(self, key: KeyT, *fields: EncodableT) -> Result[List[int]]:
        """Return, per field, the seconds left (rounded up), -1 without expiry, -2 no such field."""
        return self._field_times("MULTIMAP.TTL", key, fields)

    def pttl(self, key: KeyT, *fields: EncodableT) -> Result[List[int]]:
        """Return, per field, the milliseconds left, -1 without expiry, -2 no such field."""
        return self._field_times("MULTIMAP.PTTL", key, fields)

    def expiretime(self, key: KeyT, *fields: EncodableT) -> Result[List[int]]:
        """Return, per field, the Unix time in seconds it expires at, -1 without expiry,
        -2 no such field."""
        return self._field_times("MULTIMAP.EXPIRETIME", key, fields)

    def pexpiretime(self, key: KeyT, *fields: EncodableT) -> Result[List[int]]:
        """Return, per field, the Unix time in milliseconds it expires at, -1 without
        expiry, -2 no such field."""
        return self._field_times("MULTIMAP.PEXPIRETIME", key, fields)

    def persist(self, key: KeyT, *fields: EncodableT) -> Result[List[int]]:
        """Remove the expiry of ``fields``. Returns per field: 1 removed, -1 it had none,
        -2 no such field."""
        return self._field_times("MULTIMAP.PERSIST", key, fields)
