"""Real servers with the freshly built module: one standalone server and one
three-master cluster per test session, killed at teardown."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest
import redis
import redis.cluster

REPO_ROOT = Path(__file__).resolve().parents[3]
# Absolute, because the server changes into its --dir before it loads the module; not
# resolved, because a server binary may act on the name it is called by (symlinks).
SERVER = os.path.abspath(os.environ.get("REDIS_SERVER", REPO_ROOT / "target/servers/redis-7.0/server"))
MODULE = os.path.abspath(os.environ.get("MULTIMAP_MODULE", REPO_ROOT / "target/debug/libredis_multimap.so"))
STARTUP_TIMEOUT = 20.0
CLUSTER_SLOTS = 16384


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    # A cluster node also listens on port + 10000 (its bus), so both must be free.
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10000 < 65536 and _port_is_free(port + 10000):
            return port


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Server:
    """A server process on a free port, with the module loaded."""

    def __init__(self, *extra_args: str) -> None:
        if not Path(SERVER).exists():
            raise FileNotFoundError(f"no server at {SERVER} (set REDIS_SERVER)")
        if not Path(MODULE).exists():
            raise FileNotFoundError(f"no module at {MODULE} (cargo build, or set MULTIMAP_MODULE)")
        self.dir = tempfile.mkdtemp(prefix="multimap-py-")
        self.port = _free_port()
        self.log = Path(self.dir) / "server.log"
        args = [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--logfile", str(self.log), "--loadmodule", MODULE, *extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(self._answers, STARTUP_TIMEOUT, f"{SERVER} on port {self.port}")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"server exited with {self.process.returncode}:\n{log}")
        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.ConnectionError:
            return False

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=10, **kwargs)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    started = Server()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def server_version(server: Server) -> tuple:
    info = server.client().info("server")
    return tuple(int(part) for part in info["redis_version"].split(".")[:2])


@pytest.fixture(scope="session")
def cluster() -> Iterator[List[Server]]:
    nodes: List[Server] = []
    try:
        for _ in range(3):
            nodes.append(Server("--cluster-enabled", "yes", "--cluster-node-timeout", "5000"))
        clients = [node.client() for node in nodes]
        for index, client in enumerate(clients):
            first = index * CLUSTER_SLOTS // len(nodes)
            last = (index + 1) * CLUSTER_SLOTS // len(nodes) - 1
            # ADDSLOTSRANGE is 7.0+; ADDSLOTS takes every slot and works everywhere.
            client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        for client in clients[1:]:
            client.execute_command("CLUSTER MEET", "127.0.0.1", nodes[0].port)

        def all_ok() -> bool:
            return all(c.cluster("info")["cluster_state"] == "ok" for c in clients)

        wait_for(all_ok, STARTUP_TIMEOUT, "cluster_state:ok on every node")
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture(scope="session")
def cluster_port(cluster: List[Server]) -> int:
    return cluster[0].port


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol(request) -> int:
    return request.param


@pytest.fixture(params=[False, True], ids=["bytes", "text"])
def decode(request) -> bool:
    return request.param


@pytest.fixture
def r(server: Server, protocol: int, decode: bool) -> Iterator[redis.Redis]:
    client = server.client(protocol=protocol, decode_responses=decode)
    client.flushall()
    yield client
    client.close()
