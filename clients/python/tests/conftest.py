"""Starts the real server (``leasehold dev``) on a fresh database for each test module.

The PostgreSQL server is DATABASE_URL's, or else postgres://postgres@127.0.0.1:5432/postgres;
the binary is LEASEHOLD_BIN, or else target/debug/leasehold (build it with cargo first).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVER_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@dataclass
class Server:
    url: str
    key: str
    database_url: str

    def sql(self, statement: str) -> str:
        """Runs SQL on the server's database (to make a lease lapse, say)."""
        done = subprocess.run(
            ["psql", self.database_url, "-qAtc", statement], check=True, capture_output=True, text=True
        )
        return done.stdout.strip()


def with_database(url: str, database: str) -> str:
    base, _, query = url.partition("?")
    server = base.rsplit("/", 1)[0]
    return f"{server}/{database}" + (f"?{query}" if query else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary() -> str:
    path = os.environ.get("LEASEHOLD_BIN", str(REPO / "target" / "debug" / "leasehold"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"no leasehold binary at {path}: run `cargo build` first (or set LEASEHOLD_BIN)")
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    name = f"lh_pytest_{os.getpid()}_{time.monotonic_ns()}"
    subprocess.run(["psql", SERVER_URL, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    database_url = with_database(SERVER_URL, name)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEASEHOLD_")}
    env["DATABASE_URL"] = database_url
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [binary(), "dev", "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            key = wait_for_key(log, process)
            url = f"http://127.0.0.1:{port}"
            wait_for_ready(url)
            yield Server(url, key, database_url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            subprocess.run(["psql", SERVER_URL, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False)


def wait_for_key(log: IO[bytes], process: "subprocess.Popen[bytes]") -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        found = re.search(rb"client key: (\S+)", log.read())
        if found:
            return found.group(1).decode()
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"leasehold dev exited: {log.read().decode(errors='replace')}")
        time.sleep(0.05)
    pytest.fail("leasehold dev printed no client key within 60 s")


def wait_for_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("the server did not become ready")
        time.sleep(0.05)
