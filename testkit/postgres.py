"""A throw-away PostgreSQL cluster for tests (Debian's ``postgresql`` package).

``initdb`` and ``pg_ctl`` refuse to run as root, so as root the cluster belongs to the
package's ``postgres`` user (``runuser``), in a fresh directory under /tmp that user can
enter; otherwise to whoever runs the tests. It listens on a free loopback port (and a Unix
socket in its own directory), trusts local connections, runs with fsync off (nothing here
outlives the test session) and is removed by :meth:`Postgres.stop`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from testkit.mosquitto import LOOPBACK, free_port


def pg_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return candidates[0].parent


class Postgres:
    def __init__(self) -> None:
        self.bin = pg_bin()
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.root = Path(tempfile.mkdtemp(prefix="kitchen-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"

    def _run(self, *argv: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> Postgres:
        """Create the cluster (the first time) and start its server."""
        if not self.data.exists():
            self._create()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        started = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr} {self.log_tail()}")
        return self

    def stop_server(self) -> None:
        """Stop the server and keep the cluster (a database outage); start() resumes it."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, self.user, self.user)
        self.root.chmod(0o700)
        made = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    def create_database(self, prefix: str = "fleet") -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(
            f"host={LOOPBACK} port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, limit: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-limit:]
        return ""

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        deadline = time.monotonic() + 10
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
