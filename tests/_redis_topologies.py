"""Throwaway Redis topologies for tests: a Sentinel-watched master with one replica, and a
three-master Redis Cluster, each on free 127.0.0.1 ports in temporary directories.

``sentinel_topology()`` and ``redis_cluster()`` are context managers that start every process,
return once the topology is usable (the sentinel knows the master and its replica; every
cluster node reports ``cluster_state:ok``) and, on exit, stop every process they started by
its pid, reap it and remove its directory. Their ``url`` is what Outlast is configured with:
``redis+sentinel://host:port/<service>`` or ``redis+cluster://host:port``.

Like ``_servers``, this module imports nothing from ``outlast``, sleeps and reads time for
real (it waits on real processes), never stops a process it did not start and never touches
the system Redis: every port is picked free at start.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from _servers import RedisServer, RedisServerError, find_redis_server, free_port

__all__ = [
    "ClusterTopology",
    "SentinelTopology",
    "Topology",
    "redis_cluster",
    "sentinel_topology",
]

SERVICE = "outlast-test"
_HOST = "127.0.0.1"
_READY_TIMEOUT = 20.0
_POLL = 0.05
_PORT_ATTEMPTS = 5
#: How long the sentinel waits before it calls an unanswering master down (ms).
_DOWN_AFTER_MS = 1000


@dataclass
class SentinelTopology:
    """A master, one replica replicating it and one sentinel monitoring it as ``service``."""

    master: RedisServer
    replica: RedisServer
    sentinel: RedisServer
    service: str = SERVICE

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL Outlast is given."""
        return f"redis+sentinel://{_HOST}:{self.sentinel.port}/{self.service}"

    def master_port(self) -> int | None:
        """The port of the master the sentinel reports now (None if it knows none)."""
        client = _client(self.sentinel.port)
        try:
            # The raw command: redis-py's sentinel_get_master_addr_by_name is broken from
            # 6.0 to 7.0 (an unexpected 'once' argument), and 6.4 is a tested lower bound.
            raw: Any = client  # execute_command is typed in some redis-py releases only
            address = raw.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", self.service)
        finally:
            client.close()
        return int(address[1]) if isinstance(address, tuple | list) and address else None

    def primaries(self) -> list[redis.Redis]:
        """A plain client of the master the sentinel reports now (the caller closes it)."""
        port = self.master_port()
        return [] if port is None else [_client(port)]


@dataclass
class ClusterTopology:
    """Three Redis Cluster masters (no replicas) covering every slot."""

    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL Outlast is given (one node; the rest are discovered)."""
        return f"redis+cluster://{_HOST}:{self.nodes[0].port}"

    def primaries(self) -> list[redis.Redis]:
        """A plain client of each node, all masters here (the caller closes them)."""
        return [_client(node.port) for node in self.nodes]


Topology = SentinelTopology | ClusterTopology
"""Either running topology: both have ``url`` and ``primaries()``."""


@contextlib.contextmanager
def sentinel_topology() -> Iterator[SentinelTopology]:
    """A running master + replica + sentinel; every process is stopped on exit."""
    started: list[RedisServer] = []
    try:
        master = _start(started, _master_config)
        replica = _start(started, functools.partial(_replica_config, master_port=master.port))
        # In sync before the sentinel starts: its first look at the master lists the replica.
        _wait_for("the replica to sync", lambda: _in_sync(replica))
        sentinel = _start(
            started,
            functools.partial(_sentinel_config, master_port=master.port),
            sentinel=True,
        )
        topology = SentinelTopology(master=master, replica=replica, sentinel=sentinel)
        _wait_for("the sentinel to know the master and its replica", lambda: _watched(topology))
        yield topology
    finally:
        for server in reversed(started):
            server.stop()


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[ClusterTopology]:
    """A running Redis Cluster of ``masters`` nodes; every node is stopped on exit."""
    started: list[RedisServer] = []
    try:
        for _ in range(masters):
            _start(started, _cluster_node_config)
        topology = ClusterTopology(nodes=list(started))
        _create_cluster(topology)
        _wait_for("cluster_state:ok on every node", lambda: _cluster_ok(topology))
        yield topology
    finally:
        for server in reversed(started):
            server.stop()


# -- starting processes ------------------------------------------------------------------


ConfigLines = Callable[[int, Path], list[str]]


def _start(
    started: list[RedisServer], config: ConfigLines, *, sentinel: bool = False
) -> RedisServer:
    """Launch one redis-server (or sentinel) on a free port, retrying if the port was taken;
    it is appended to ``started`` before waiting, so a failure still stops it."""
    executable = find_redis_server()
    log = ""
    for _ in range(_PORT_ATTEMPTS):
        server = _launch(executable, config, sentinel=sentinel)
        started.append(server)
        if _answers_as(server):
            return server
        log = server.log()
        server.stop()
        started.remove(server)
    raise RedisServerError(f"{executable} did not start on a free port:\n{log}")


def _launch(executable: str, config: ConfigLines, *, sentinel: bool) -> RedisServer:
    """Spawn the process in its own session and temporary directory, configured there."""
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="outlast-topology-"))
    conf = directory / "redis.conf"
    conf.write_text("\n".join(config(port, directory)) + "\n")
    try:
        process = subprocess.Popen(
            [executable, str(conf), *(["--sentinel"] if sentinel else [])],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise RedisServerError(f"cannot run {executable}: {exc}") from exc
    return RedisServer(process=process, port=port, directory=directory)


def _answers_as(server: RedisServer) -> bool:
    """Poll until ``server``'s own process answers on its port (not another one's)."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline and server.running:
        client = _client(server.port)
        try:
            if int(client.info("server")["process_id"]) == server.pid:
                return True
        except (redis.RedisError, OSError):
            pass
        finally:
            client.close()
        time.sleep(_POLL)
    return False


def _base_config(port: int, directory: Path) -> list[str]:
    """A loopback-only, in-memory, foreground server."""
    return [
        f"port {port}",
        f"bind {_HOST}",
        f'dir "{directory}"',
        f'logfile "{directory / "redis.log"}"',
        'save ""',
        "appendonly no",
        "daemonize no",
    ]


def _master_config(port: int, directory: Path) -> list[str]:
    """A server that starts a replica's full sync at once (the default waits 5 s for more
    replicas)."""
    return [*_base_config(port, directory), "repl-diskless-sync-delay 0"]


def _replica_config(port: int, directory: Path, *, master_port: int) -> list[str]:
    """A server replicating the master on ``master_port``."""
    return [*_base_config(port, directory), f"replicaof {_HOST} {master_port}"]


def _sentinel_config(port: int, directory: Path, *, master_port: int) -> list[str]:
    """A sentinel (quorum 1) watching the master; it rewrites this file, in its own dir."""
    return [
        *_base_config(port, directory)[:4],
        "daemonize no",
        f"sentinel monitor {SERVICE} {_HOST} {master_port} 1",
        f"sentinel down-after-milliseconds {SERVICE} {_DOWN_AFTER_MS}",
        f"sentinel failover-timeout {SERVICE} 5000",
        f"sentinel parallel-syncs {SERVICE} 1",
    ]


def _cluster_node_config(port: int, directory: Path) -> list[str]:
    """A cluster node whose bus port is picked free too (port + 10000 may not exist)."""
    return [
        *_base_config(port, directory),
        "cluster-enabled yes",
        'cluster-config-file "nodes.conf"',
        f"cluster-port {free_port()}",
        "cluster-node-timeout 2000",
    ]


# -- readiness ----------------------------------------------------------------------------


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=_HOST, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)


def _wait_for(what: str, ready: Callable[[], bool]) -> None:
    """Poll ``ready`` (Redis errors count as not ready) until it holds, or fail clearly."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if ready():
                return
        time.sleep(_POLL)
    raise RedisServerError(f"timed out after {_READY_TIMEOUT}s waiting for {what}")


def _watched(topology: SentinelTopology) -> bool:
    """The sentinel names our master and lists our replica, which is in sync."""
    if topology.master_port() != topology.master.port:
        return False
    client = _client(topology.sentinel.port)
    try:
        replicas = client.sentinel_slaves(topology.service)
    finally:
        client.close()
    listed = {int(entry["port"]) for entry in replicas if not entry["is_disconnected"]}
    return topology.replica.port in listed and _in_sync(topology.replica)


def _in_sync(replica: RedisServer) -> bool:
    """The replica's link to its master is up."""
    client = _client(replica.port)
    try:
        return client.info("replication").get("master_link_status") == "up"
    finally:
        client.close()


def _create_cluster(topology: ClusterTopology) -> None:
    """``redis-cli --cluster create`` over every node: the slots split evenly, no replicas."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RedisServerError("no redis-cli on PATH: needed to create a Redis Cluster")
    addresses = [f"{_HOST}:{node.port}" for node in topology.nodes]
    result = subprocess.run(
        [cli, "--cluster", "create", *addresses, "--cluster-yes"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_READY_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RedisServerError(
            f"redis-cli --cluster create failed:\n{result.stdout}{result.stderr}"
        )


def _cluster_ok(topology: ClusterTopology) -> bool:
    clients = topology.primaries()
    try:
        return all(client.cluster("INFO")["cluster_state"] == "ok" for client in clients)
    finally:
        for client in clients:
            client.close()
