"""A throw-away PostgreSQL server for one test session: private data directory, Unix socket
only (no TCP port to collide with), trust authentication, stopped and deleted afterwards.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user
that Debian's package creates.
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


def _bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries not found: run `make test` (installs Debian's postgresql)")


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="cati-pg-"))
        self.datadir = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.port = 5432  # only names the socket file; no TCP listener is opened

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
            os.chmod(self.root, 0o755)  # noqa: S103 - the server user must reach its socket
        self._run("initdb", "-D", str(self.datadir), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        self._serve()
        return self.url("postgres")

    def _serve(self) -> None:
        options = f"-c listen_addresses='' -k {self.root} -p {self.port} -c fsync=off -c full_page_writes=off"
        options += " -c synchronous_commit=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def restart(self) -> None:
        """Stop the server as a crash would (``immediate``: no checkpoint, every connection cut),
        then start it again on the same data."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop")
        self._serve()

    def create_database(self, name: str) -> str:
        deadline = time.monotonic() + 20
        while True:
            try:
                self._run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", self.user, name)
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@/{database}?host={self.root}&port={self.port}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
