"""Fixtures of the pgml Python client's tests: a real pgmld on a throw-away
socket (against the PostgreSQL of the ctest `postgres` fixture), and the
scripted fake daemon of fake_pgmld.py.

Environment (set by ctest from tests/CMakeLists.txt):
  PGMLD_BIN                 the pgmld binary to run
  PGMLD_TEST_DATABASE_URL   the PostgreSQL it uses
"""
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

import pgml
from fake_pgmld import FakePgmld


class Daemon:
    """One pgmld process serving on `sock`; restartable."""

    def __init__(self, workdir):
        self.bin = os.environ.get("PGMLD_BIN")
        self.url = os.environ.get("PGMLD_TEST_DATABASE_URL")
        self.workdir = workdir
        self.sock = os.path.join(workdir, "pgmld.sock")
        self.log_path = os.path.join(workdir, "pgmld.log")
        self.proc = None

    @property
    def address(self):
        return "unix://" + self.sock

    def start(self):
        log = open(self.log_path, "ab")
        # The sanitizer runtime preloaded into this python (python_client_asan)
        # is not for the daemon.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.proc = subprocess.Popen(
            [self.bin, "--server-socket-path", self.sock, "--database-url", self.url,
             "--log-level", "debug"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgmld exited with {self.proc.returncode}:\n{self.log(4000)}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.sock)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgmld did not listen on {self.sock} within 60 s:\n{self.log(4000)}")

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self, tail=None):
        """The daemon's log; its last `tail` characters if given."""
        with open(self.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        return text[-tail:] if tail else text


def _need_daemon():
    if not os.environ.get("PGMLD_BIN") or not os.environ.get("PGMLD_TEST_DATABASE_URL"):
        pytest.skip("PGMLD_BIN and PGMLD_TEST_DATABASE_URL are not set (run through ctest)")


@pytest.fixture(scope="session")
def daemon():
    _need_daemon()
    # Short path: a Unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="pgml-py-") as d:
        dm = Daemon(d)
        dm.start()
        yield dm
        dm.stop()


@pytest.fixture
def own_daemon():
    """A daemon of this test's own, which the test may stop and start."""
    _need_daemon()
    with tempfile.TemporaryDirectory(prefix="pgml-py-") as d:
        dm = Daemon(d)
        dm.start()
        yield dm
        dm.stop()


@pytest.fixture
def address(daemon):
    return daemon.address


@pytest.fixture
async def db(address):
    async with pgml.Database(address) as d:
        yield d


@pytest.fixture
async def fake():
    with tempfile.TemporaryDirectory(prefix="pgml-fake-") as d:
        f = await FakePgmld(os.path.join(d, "fake.sock")).start()
        yield f
        await f.stop()


@pytest.fixture
def unique_name():
    return "py_" + uuid.uuid4().hex[:12]
