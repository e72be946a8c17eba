#!/usr/bin/env python3
"""test_new_rpc.py - adding an RPC to the .proto is all it takes.

Copies proto/ to a scratch directory, adds two RPCs with new messages to the
Database service (Echo on Database, EchoInCollection on the bound class
Collection), builds this project from that copy (-DPGML_PROTO_SOURCE_DIR),
and checks that every client surface has them: the typed C functions (in
libpgml), the Python and Node method tables (compiled, read back through
pgml-table-dump), the .pyi and the .d.ts; that the source tree names
neither (nothing was written by hand for them); and, when the daemon is
part of the build, that the scratch pgmld answers them UNIMPLEMENTED (no
handler was written) through the C client, the built Python extension
(tests/integration/python/gen_check.py) and the built Node addon
(tests/integration/node/gen_check.js), each with its methods on the right
class, their arguments and docs.

Adding a check for another language: write a function taking the Context
and raising AssertionError with a message that says what is missing, and
decorate it with @check(...), naming the build targets it needs, any CMake
options, whether it needs the running daemon (ctx.socket), and what else
it needs on the machine (`needs`: a function saying why it cannot run, or
None).  Every check runs, even after one fails; the test fails if any did.
The scratch build has no sanitizer: interpreters load its extensions
without LD_PRELOAD.

    test_new_rpc.py --source DIR --work DIR [--cmake CMAKE] [--cc CC]
                    [--daemon]

--daemon needs PGMLD_TEST_DATABASE_URL (the ctest `postgres` fixture).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import traceback

# ---------------------------------------------------------------- the edit

ADDED_RPCS = """
  // Echoes `text` back, repeat_count times.  Added by tests/integration/gen.
  rpc Echo(EchoRequest) returns (EchoResponse);
  // Echoes `text` within a collection.
  rpc EchoInCollection(EchoInCollectionRequest) returns (EchoResponse);
"""

ADDED_MESSAGES = """
// ---------------------------------------------------------------- added by tests/integration/gen

message EchoRequest {
  // The text to echo.
  string text = 1;
  uint32 repeat_count = 2;
  uint64 big_count = 3;
}

message EchoInCollectionRequest {
  string collection = 1 [(bind) = "Collection"];
  string text = 2;
  // A JSON object of labels.
  string labels = 3 [(json) = true];
}

message EchoResponse {
  string text = 1;
  int64 echoed_at_ms = 2 [(js_number) = true];
}
"""


def add_rpcs(proto_text):
    """The .proto with the RPCs added at the end of service Database and the
    messages at the end of the file."""
    m = re.search(r"^service Database \{\n", proto_text, re.M)
    assert m, "database.proto has no `service Database {` line"
    end = proto_text.index("\n}\n", m.end())
    return (proto_text[:end] + "\n" + ADDED_RPCS.rstrip("\n") + proto_text[end:]
            + ADDED_MESSAGES)


# ---------------------------------------------------------------- checks

CHECKS = []


def check(targets=(), cmake_args=(), daemon=False, needs=None):
    """Registers a check: the build targets it needs built, the CMake
    options it needs at configure time, whether it needs the scratch daemon
    running, and `needs`, a function returning why the check cannot run on
    this machine (a missing toolchain) or None.  A check that cannot run is
    skipped, says so, and adds nothing to the build."""
    def register(fn):
        CHECKS.append({"fn": fn, "targets": list(targets),
                       "cmake_args": list(cmake_args), "daemon": daemon,
                       "needs": needs})
        return fn
    return register


class Context:
    def __init__(self, args):
        self.source = os.path.abspath(args.source)
        self.work = os.path.abspath(args.work)
        self.proto = os.path.join(self.work, "proto")
        self.build = os.path.join(self.work, "build")
        self.gen = os.path.join(self.build, "clients", "gen", "out")
        self.socket = None  # the scratch daemon's socket, when it runs
        self._tables = None

    def read(self, rel):
        """A generated file, under clients/gen/out of the scratch build."""
        path = os.path.join(self.gen, rel)
        assert os.path.exists(path), f"{path} was not generated"
        with open(path, encoding="utf-8") as f:
            return f.read()

    def exe(self, rel):
        return os.path.join(self.build, rel)

    def tables(self):
        """The compiled method tables, as pgml-table-dump prints them."""
        if self._tables is None:
            out = run([self.exe("clients/gen/pgml-table-dump")], capture=True)
            self._tables = json.loads(out)
        return self._tables


def expect_in(text, what, where):
    assert what in text, f"{where} lacks {what!r}"


def method(table, wire_name):
    for m in table["methods"]:
        if m["wire_name"] == wire_name:
            return m
    raise AssertionError(f"the {table['language']} table has no method {wire_name}")


# What only binding code written by hand for the added RPCs would spell.
HAND_WRITTEN = re.compile(r"EchoInCollection|echo_?[iI]n_?[cC]ollection|EchoRequest|EchoResponse"
                          r"|pgml_database_echo|PGML_DATABASE_ECHO|Database/Echo\b")


@check()
def check_no_hand_written(ctx):
    """The source tree the scratch build is made from (all but tests/ and
    docs/) never names the added RPCs: whatever the other checks find was
    generated from the .proto copy."""
    paths = [os.path.join(ctx.source, "CMakeLists.txt")]
    for top in ("cmake", "clients", "daemon", "proto"):
        for root, dirs, files in os.walk(os.path.join(ctx.source, top)):
            dirs[:] = [d for d in dirs if d != "build" and not d.startswith(".")]
            paths += [os.path.join(root, name) for name in files]
    hits = []
    for path in paths:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        hits += [f"{os.path.relpath(path, ctx.source)}: {m.group(0)}"
                 for m in HAND_WRITTEN.finditer(text)]
    assert not hits, "the source tree names the added RPCs: " + ", ".join(hits[:10])


@check(targets=["pgml_gen_outputs", "pgml_gen_c_check", "pgml"])
def check_c(ctx):
    h = ctx.read("c/include/pgml/database.h")
    for s in ('#define PGML_DATABASE_ECHO "pgml.v1.Database/Echo"',
              "typedef void (*pgml_database_echo_cb)(",
              "PGML_MUST_CHECK int pgml_database_echo(pgml_client_t *c, "
              "const pgml_v1_EchoRequest *req,",
              "PGML_MUST_CHECK int pgml_database_echo_sync(pgml_client_t *c, "
              "const pgml_v1_EchoRequest *req,\n        pgml_v1_EchoResponse *resp,",
              "int pgml_database_echo_in_collection_sync(",
              "/* Echoes `text` back, repeat_count times.",
              " *   text: The text to echo."):
        expect_in(h, s, "the C header")
    # Compiled into libpgml and exported from it.
    lib = ctx.exe("clients/c/libpgml.so")
    syms = run(["nm", "-D", "--defined-only", lib], capture=True)
    for sym in ("pgml_database_echo", "pgml_database_echo_sync",
                "pgml_database_echo_in_collection",
                "pgml_database_echo_in_collection_sync"):
        assert re.search(rf"\bT {sym}$", syms, re.M), f"libpgml.so does not export {sym}"


@check(targets=["pgml_gen_probe"], cmake_args=["-DPGML_GEN_PROBE={probe}"])
def check_c_probe_builds(ctx):
    assert os.access(ctx.exe("clients/gen/pgml_gen_probe"), os.X_OK), \
        "the probe calling pgml_database_echo_sync() did not build"


@check(targets=["pgml-table-dump"])
def check_tables(ctx):
    t = ctx.tables()
    py, node = t["python"], t["node"]
    echo = method(py, "pgml.v1.Database/Echo")
    assert echo["name"] == "echo" and echo["owner"] == "Database", echo
    assert echo["request_type"] == "pgml.v1.EchoRequest", echo
    assert echo["response_type"] == "pgml.v1.EchoResponse", echo
    assert [a["name"] for a in echo["args"]] == ["text", "repeat_count", "big_count"], echo
    assert echo["doc"].startswith("Echoes `text` back, repeat_count times."), echo
    bound = method(py, "pgml.v1.Database/EchoInCollection")
    assert bound["name"] == "echo_in_collection" and bound["owner"] == "Collection", bound
    assert bound["bind"] == "collection", bound
    assert [a["name"] for a in bound["args"]] == ["text", "labels"], bound
    assert "json" in bound["args"][1]["flags"], bound

    necho = method(node, "pgml.v1.Database/Echo")
    assert necho["name"] == "echo", necho
    assert [a["name"] for a in necho["args"]] == ["text", "repeatCount", "bigCount"], necho
    nbound = method(node, "pgml.v1.Database/EchoInCollection")
    assert nbound["name"] == "echoInCollection" and nbound["owner"] == "Collection", nbound
    resp = [m for m in node["messages"] if m["name"] == "EchoResponse"]
    assert resp, "the node table has no message EchoResponse"
    at = [f for f in resp[0]["fields"] if f["proto_name"] == "echoed_at_ms"]
    assert at and at[0]["name"] == "echoedAtMs" and "js_number" in at[0]["flags"], resp
    # The existing methods are still there, in .proto order before the new.
    names = [m["name"] for m in py["methods"]]
    assert names[0] == "ping" and names[-2:] == ["echo", "echo_in_collection"], names


@check(targets=["pgml_gen_outputs"])
def check_pyi(ctx):
    pyi = ctx.read("python/pgml/__init__.pyi")
    for s in ("    async def echo(\n        self,\n        text: str = ...,\n"
              "        repeat_count: int = ...,\n        big_count: int = ...,\n"
              "        *,\n        timeout: float | None = None,\n"
              "    ) -> EchoResponse:",
              "    async def echo_in_collection(\n        self,\n        text: str = ...,\n"
              "        labels: Json = ...,",
              "class EchoResponse:\n    text: str\n    echoed_at_ms: int\n"):
        expect_in(pyi, s, "__init__.pyi")
    # echo_in_collection is a method of Collection, not of Database.
    coll = pyi.index("\nclass Collection:")
    assert pyi.index("async def echo_in_collection(") > coll, \
        "echo_in_collection is not in class Collection"
    assert pyi.index("async def echo(") < coll, "echo is not in class Database"
    compile(pyi, "__init__.pyi", "exec")  # a stub is Python syntax


@check(targets=["pgml_gen_outputs"])
def check_dts(ctx):
    dts = ctx.read("node/index.d.ts")
    for s in ("  echo(request?: EchoRequestInit, options?: CallOptions): "
              "Promise<EchoResponse>;",
              "  echoInCollection(request?: Omit<EchoInCollectionRequestInit, "
              "\"collection\">, options?: CallOptions): Promise<EchoResponse>;",
              "export interface EchoRequestInit {",
              "  repeatCount?: number;",
              # uint64 without (js_number) is a BigInt; with it, a number.
              "  bigCount?: bigint | number;",
              "  readonly echoedAtMs: number;"):
        expect_in(dts, s, "index.d.ts")
    coll = dts.index("\nexport class Collection {")
    assert dts.index("  echoInCollection(") > coll, "echoInCollection is not in Collection"


@check(targets=["pgml_gen_probe", "pgmld"], daemon=True)
def check_daemon_unimplemented(ctx):
    out = run([ctx.exe("clients/gen/pgml_gen_probe"), ctx.socket, "echo"], capture=True)
    print(out, end="")
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    for rpc in ("Echo", "EchoInCollection", "EchoAsync"):
        assert rpc in lines, f"the probe printed nothing for {rpc}: {out!r}"
        assert lines[rpc].startswith("UNIMPLEMENTED"), \
            f"{rpc} answered {lines[rpc]!r}, not UNIMPLEMENTED"


def python_headers():
    """Why the CPython extension cannot be built for this interpreter."""
    inc = sysconfig.get_paths().get("include") or ""
    if not os.path.exists(os.path.join(inc, "Python.h")):
        return f"no Python.h for {sys.executable} (in {inc!r})"
    return None


NODE_API_DIRS = ("/usr/include/node", "/usr/local/include/node")


def node_toolchain():
    """Why the Node addon cannot be built and run here (same search as
    clients/node/CMakeLists.txt)."""
    if shutil.which("node") is None:
        return "no node executable on PATH"
    if not any(os.path.exists(os.path.join(d, "node_api.h")) for d in NODE_API_DIRS):
        return "no node_api.h in " + " or ".join(NODE_API_DIRS)
    return None


# The scratch build has no sanitizer (no -DPGML_SANITIZE), so the
# interpreters load the extensions as they are: no LD_PRELOAD.
@check(targets=["pgml_python", "pgmld"],
       cmake_args=["-DPGML_BUILD_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}"],
       daemon=True, needs=python_headers)
def check_python(ctx):
    """The methods on pgml.Database / pgml.Collection with their arguments
    and docstrings, the .pyi in the package, and both calls raising
    pgml.Unimplemented from the scratch daemon."""
    out = run([sys.executable, os.path.join(ctx.source, "tests/integration/python/gen_check.py"),
               os.path.join(ctx.build, "clients/python/pkg"), ctx.socket], capture=True)
    print(out, end="")
    assert out.count("UNIMPLEMENTED ") == 2, f"gen_check.py saw {out.count('UNIMPLEMENTED ')} " \
        "of the 2 UNIMPLEMENTED answers"


@check(targets=["pgml_node", "pgmld"], cmake_args=["-DPGML_BUILD_NODE=ON"],
       daemon=True, needs=node_toolchain)
def check_node(ctx):
    """Database.prototype.echo and Collection.prototype.echoInCollection
    with their arguments, index.d.ts in the package with their JSDoc, and
    the calls rejecting with UnimplementedError from the scratch daemon."""
    out = run([shutil.which("node"), os.path.join(ctx.source, "tests/integration/node/gen_check.js"),
               os.path.join(ctx.build, "clients/node/pkg"), ctx.socket], capture=True)
    print(out, end="")
    assert out.count(": UNIMPLEMENTED ") == 3, f"gen_check.js saw {out.count(': UNIMPLEMENTED ')} " \
        "of the 3 UNIMPLEMENTED answers"


# ---------------------------------------------------------------- running

def run(cmd, capture=False, timeout=900, **kw):
    """Runs a command; fails with its output when it fails."""
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None,
                       text=True, timeout=timeout, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited with {p.returncode}"
                           + (f":\n{p.stdout}" if capture else ""))
    return p.stdout


class Daemon:
    """The scratch pgmld on a socket in the work directory."""

    def __init__(self, ctx, url):
        self.ctx = ctx
        self.sock = os.path.join(ctx.work, "pgmld.sock")
        self.log_path = os.path.join(ctx.work, "pgmld.log")
        conf = os.path.join(ctx.work, "pgmld.conf")
        with open(conf, "w") as f:
            f.write("# tests/integration/gen: settings come from the flags\n")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ctx.exe("daemon/pgmld"), "--config", conf, "--server-socket-path", self.sock,
             "--database-url", url, "--database-pool-size", "2", "--log-level", "info"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, attempts=300):
        probe = self.ctx.exe("clients/gen/pgml_gen_probe")
        for _ in range(attempts):
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgmld exited with {self.proc.returncode}:\n"
                                   + self.log_text())
            if subprocess.run([probe, self.sock, "ping"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("pgmld did not answer a Ping:\n" + self.log_text())

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", required=True, help="the project's source tree")
    ap.add_argument("--work", required=True, help="scratch directory (emptied)")
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--cc", default=None, help="C compiler for the scratch build")
    ap.add_argument("--daemon", action="store_true",
                    help="also build pgmld and call it (needs PGMLD_TEST_DATABASE_URL)")
    args = ap.parse_args()
    ctx = Context(args)
    here = os.path.dirname(os.path.abspath(__file__))

    checks = []
    for c in CHECKS:
        why = "no daemon in this build" if c["daemon"] and not args.daemon else None
        if why is None and c["needs"] is not None:
            why = c["needs"]()
        if why is None:
            checks.append(c)
        else:
            print(f"SKIP {c['fn'].__name__}: {why}")
    url = os.environ.get("PGMLD_TEST_DATABASE_URL")
    if args.daemon and not url:
        print("FAIL: --daemon needs PGMLD_TEST_DATABASE_URL (the postgres fixture)")
        return 1

    shutil.rmtree(ctx.work, ignore_errors=True)
    shutil.copytree(os.path.join(ctx.source, "proto"), ctx.proto,
                    ignore=shutil.ignore_patterns("CMakeLists.txt"))
    db = os.path.join(ctx.proto, "pgml", "v1", "database.proto")
    with open(db, encoding="utf-8") as f:
        text = f.read()
    with open(db, "w", encoding="utf-8") as f:
        f.write(add_rpcs(text))

    cmake_args = {a.format(probe=os.path.join(here, "probe.c"))
                  for c in checks for a in c["cmake_args"]}
    targets = []
    for c in checks:
        targets += [t for t in c["targets"] if t not in targets]
    configure = [args.cmake, "-S", ctx.source, "-B", ctx.build, "-G", "Ninja",
                 "-DCMAKE_BUILD_TYPE=Debug", "-DBUILD_TESTING=OFF", "-DPGML_WERROR=ON",
                 f"-DPGML_PROTO_SOURCE_DIR={ctx.proto}"] + sorted(cmake_args)
    if args.cc:
        configure.append(f"-DCMAKE_C_COMPILER={args.cc}")
    t0 = time.monotonic()
    run(configure, capture=True)
    run([args.cmake, "--build", ctx.build, "-j", "2", "--target"] + targets)
    print(f"scratch build: {time.monotonic() - t0:.0f} s", flush=True)

    daemon = None
    failed = []
    try:
        if any(c["daemon"] for c in checks):
            daemon = Daemon(ctx, url)
            daemon.wait_ready()
            ctx.socket = daemon.sock
        for c in checks:
            name = c["fn"].__name__
            try:
                c["fn"](ctx)
                print(f"PASS {name}", flush=True)
            except AssertionError as e:
                failed.append(name)
                print(f"FAIL {name}: {e}", flush=True)
            except Exception:
                failed.append(name)
                print(f"FAIL {name}:\n{traceback.format_exc()}", flush=True)
    finally:
        if daemon is not None:
            daemon.stop()
            if failed:
                print("pgmld's log:\n" + daemon.log_text())
    if failed:
        print(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
        return 1
    print(f"all {len(checks)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
