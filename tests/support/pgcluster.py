"""A private PostgreSQL cluster (initdb + pg_ctl) that a test may stop and start at will.

The machine's shared server is used by other tests at the same time, so the fault tests never
restart it: they run their own cluster in a temporary directory on a free loopback port. As
root, initdb refuses to run, so the cluster is run as the `postgres` user (runuser).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from tests.support.server import free_port
from warroom.core.db import normalize_url

PASSWORD = "pg-secret-5d1e0c"  # the fault tests check that it never reaches a log


def pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian layout or PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).resolve().parent if which else None


class PgCluster:
    """initdb'd into a fresh directory; `url` has a password-protected role `warroom`."""

    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout, cwd=self.dir)

    def init(self) -> PgCluster:
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 64MB\nlog_min_messages = warning\n"
            )
        self.start()
        admin = sa.create_engine(normalize_url(self.admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE ROLE warroom LOGIN PASSWORD '{PASSWORD}'"))
            conn.execute(sa.text("CREATE DATABASE warroom OWNER warroom"))
        admin.dispose()
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://warroom:{PASSWORD}@127.0.0.1:{self.port}/warroom"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def recreate_database(self) -> None:
        """An empty `warroom` database for the next scenario (forcing out any leftover session)."""
        admin = sa.create_engine(normalize_url(self.admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS warroom WITH (FORCE)"))
            conn.execute(sa.text("CREATE DATABASE warroom OWNER warroom"))
        admin.dispose()

    def destroy(self) -> None:
        self.stop("immediate")
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(self.dir, ignore_errors=True)
