"""The client covers the module's command table exactly: a command the module gains
without a method here, or a method without a command, fails these tests."""

from __future__ import annotations

import inspect

import pytest
import redis

from redis_multimap import COMMANDS, AsyncMultiMap, MultiMap, MultiMapCommands, MultiMapPipeline

from conftest import Server

# One call per method, so that every method's queued command can be checked against
# the table.
SAMPLE_CALLS = {
    "insert": ("k", "f", "v"),
    "get": ("k", "f"),
    "values": ("k", "f"),
    "len": ("k", "f"),
    "range": ("k", "f", 0, -1),
    "contains": ("k", "f", "v"),
    "exists": ("k", "f"),
    "remove": ("k", "f", "v"),
    "replace": ("k", "f", "v"),
    "delete": ("k", "f"),
    "card": ("k",),
    "size": ("k",),
    "fields": ("k",),
    "getall": ("k",),
    "scan": ("k", 0),
    "prepend": ("k", "f", "v"),
    "add": ("k", "f", "v"),
    "pop": ("k", "f"),
    "bpop": ("k", "f", 0.01),
    "index": ("k", "f", 0),
    "set": ("k", "f", 0, "v"),
    "trim": ("k", "f", 0, -1),
    "pos": ("k", "f", "v"),
    "expire": ("k", 10, "f"),
    "pexpire": ("k", 10, "f"),
    "expireat": ("k", 10, "f"),
    "pexpireat": ("k", 10, "f"),
    "ttl": ("k", "f"),
    "pttl": ("k", "f"),
    "expiretime": ("k", "f"),
    "pexpiretime": ("k", "f"),
    "persist": ("k", "f"),
}


def _public_methods(cls: type) -> set:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def test_the_table_names_every_command_the_server_has(server: Server) -> None:
    reported = {
        name.lower()
        for name in server.client(decode_responses=True, protocol=2).command()
        if name.lower().startswith("multimap.")
    }
    assert reported, "the server reports no MULTIMAP command: is the module loaded?"
    assert set(COMMANDS) == reported


def test_the_commands_mixin_has_exactly_one_method_per_command() -> None:
    assert _public_methods(MultiMapCommands) == set(COMMANDS.values())
    assert len(set(COMMANDS.values())) == len(COMMANDS)


def test_client_and_pipeline_classes_add_only_their_plumbing() -> None:
    commands = set(COMMANDS.values())
    assert _public_methods(MultiMap) - commands == {"execute_command", "pipeline", "scan_iter"}
    assert _public_methods(AsyncMultiMap) - commands == {"execute_command", "pipeline", "scan_iter"}
    assert _public_methods(MultiMapPipeline) - commands == {"execute_command", "execute"}
    for cls in (MultiMap, AsyncMultiMap, MultiMapPipeline):
        assert commands <= _public_methods(cls)


def test_every_method_has_a_docstring_saying_what_it_returns() -> None:
    for method in COMMANDS.values():
        doc = inspect.getdoc(getattr(MultiMapCommands, method)) or ""
        assert "return" in doc.lower(), method


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_method_sends_its_command(server: Server, command: str) -> None:
    assert set(SAMPLE_CALLS) == set(COMMANDS.values())
    pipe = MultiMap(server.client()).pipeline(transaction=False)
    getattr(pipe, COMMANDS[command])(*SAMPLE_CALLS[COMMANDS[command]])
    (args, _options), = pipe.pipe.command_stack
    assert args[0].lower() == command
    assert isinstance(pipe.execute(raise_on_error=False)[0], (int, bool, list, dict, tuple, type(None)))
