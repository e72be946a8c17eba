"""Two pgmld daemons for the WebSocket client tests, one on ws:// and one on
wss://, both requiring a bearer token, with a CA and a server certificate
(naming only DNS:localhost) made by the openssl CLI, and an unrelated CA.

Used by test_ws_python.py (as a pytest fixture) and run as a program by the
Node and browser tests:

    python3 wsd.py DIR      starts them, prints one JSON line, stops on EOF

Environment: PGMLD_BIN, PGMLD_TEST_DATABASE_URL (ctest sets them).
"""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

TOKEN = "wsc-test-token-7f3a"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(d):
    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=pgml wsclient test CA")
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out",
        "other.pem", "-days", "2", "-subj", "/CN=pgml wsclient other CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    with open(os.path.join(d, "tokens"), "w") as f:
        f.write("# the test's token\nsha256:%s\n" % hashlib.sha256(TOKEN.encode()).hexdigest())


class Daemon:
    def __init__(self, d, name, tls, allowed_origins=""):
        self.d, self.name, self.tls = d, name, tls
        self.port = free_port()
        self.sock = os.path.join(d, name + ".sock")
        self.log_path = os.path.join(d, name + ".log")
        conf = os.path.join(d, name + ".conf")
        with open(conf, "w") as f:
            f.write("[websocket]\nlisten = 127.0.0.1:%d\nallowed_origins = %s\n\n"
                    "[auth]\ntokens_file = %s\n\n"
                    % (self.port, allowed_origins, os.path.join(d, "tokens")))
            if tls:
                f.write("[tls]\ncert_file = %s\nkey_file = %s\n"
                        % (os.path.join(d, "server.pem"), os.path.join(d, "server.key")))
        # A sanitizer runtime preloaded into the test's interpreter is not for
        # the daemon.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [os.environ["PGMLD_BIN"], "--config", conf, "--server-socket-path", self.sock,
                 "--database-url", os.environ["PGMLD_TEST_DATABASE_URL"],
                 "--database-pool-size", "2", "--log-level", "info"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pgmld (%s) exited with %d:\n%s"
                                   % (name, self.proc.returncode, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("pgmld (%s) did not listen on port %d:\n%s"
                           % (name, self.port, self.log()))

    @property
    def url(self):
        return "%s://%s:%d/v1" % ("wss" if self.tls else "ws",
                                  "localhost" if self.tls else "127.0.0.1", self.port)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Daemons:
    def __init__(self, d, allowed_origins=""):
        """allowed_origins: websocket.allowed_origins of both daemons (the
        origin of a browser page that connects, e.g. http://127.0.0.1:8000)."""
        make_certs(d)
        self.dir = d
        self.ca = os.path.join(d, "ca.pem")
        self.other_ca = os.path.join(d, "other.pem")
        self.token = TOKEN
        self.ws = Daemon(d, "ws", False, allowed_origins)
        try:
            self.wss = Daemon(d, "wss", True, allowed_origins)
        except Exception:
            self.ws.stop()
            raise

    def info(self):
        return {"ws": self.ws.url, "wss": self.wss.url, "wss_ip": "wss://127.0.0.1:%d/v1"
                % self.wss.port, "ca": self.ca, "other_ca": self.other_ca, "token": self.token,
                "ws_port": self.ws.port}

    def stop(self):
        return [self.ws.stop(), self.wss.stop()]


if __name__ == "__main__":
    ds = Daemons(sys.argv[1])
    try:
        print(json.dumps(ds.info()), flush=True)
        sys.stdin.read()
    finally:
        codes = ds.stop()
        if codes != [0, 0]:
            sys.stderr.write("pgmld exit codes %s\n%s\n%s\n" % (codes, ds.ws.log(), ds.wss.log()))
            sys.exit(1)
