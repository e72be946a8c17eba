"""Runs every pgmld benchmark, both sides of each comparison interleaved, and writes docs/benchmarks.md.

Called by bench/run.sh (which installs and builds what is needed first):

    .venv/bin/python bench/driver.py --mode quick|full|smoke --build build/bench

It starts its own PostgreSQL (build/bench/pg), its own pgmld and gRPC server
(sockets in a temporary directory), and stops them, by PID, when it ends.
"""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

MODES = {
    # runs: measurements per side; secs/warm: window per measurement.
    "smoke": dict(runs=1, secs=0.2, warm=0.1, big_secs=0.5, big_warm=0.3, n_vec=300,
                  n_ingest=100, idle=100, search_concs=[1, 32], ping_concs=[1, 64]),
    "quick": dict(runs=5, secs=0.3, warm=0.15, big_secs=0.8, big_warm=0.6, n_vec=20000,
                  n_ingest=1000, idle=10000, search_concs=[1, 32, 512], ping_concs=[1, 64]),
    "full": dict(runs=7, secs=3.0, warm=0.5, big_secs=5.0, big_warm=2.0, n_vec=100000,
                 n_ingest=100000, idle=10000, search_concs=[1, 32, 512], ping_concs=[1, 64],
                 ingest_slices=True),
}
POOL = 32  # pgmld's PostgreSQL connections: the direct side's count at 32 concurrent


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_json(cmd, env=None, timeout=600):
    """Runs cmd; returns the JSON objects it printed one per line. Fails loudly."""
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {p.returncode}:\n{p.stderr[-3000:]}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def proc_cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load():
    return "%.2f, %.2f, %.2f (1, 5, 15 min)" % os.getloadavg()


def machine():
    info = {"uname": " ".join(platform.uname()), "load average at start": load()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for key in ("Model name", "CPU(s)", "Thread(s) per core", "CPU max MHz", "L3 cache"):
            m = re.search(rf"^{re.escape(key)}:\s*(.+)$", out, re.M)
            if m:
                info[key] = m.group(1).strip()
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        info["MemTotal"] = f.readline().split(":")[1].strip()
    try:  # read-only: which tree was measured
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.count("\n")
        info["source tree"] = f"{head}" + (f" with {dirty} files modified (work in progress)" if dirty else "")
    except OSError:
        pass
    return info


class Services:
    """PostgreSQL, pgmld and the gRPC server of one benchmark run."""

    def __init__(self, build):
        self.build = build
        self.pgdir = os.path.join(build, "pg")
        self.tmp = tempfile.mkdtemp(prefix="pgmld-bench-")
        self.sock = os.path.join(self.tmp, "pgmld.sock")
        self.gsock = os.path.join(self.tmp, "grpc.sock")
        self.pgmld = None
        self.grpc = None

    def start_pg(self):
        log(f"PostgreSQL in {self.pgdir}")
        subprocess.run([os.path.join(ROOT, "scripts/pg-cluster.sh"), "start", self.pgdir], check=True)

    def url(self):
        return f"host={self.pgdir} dbname=pgmld user=pgmld"

    def start_pgmld(self):
        def limits():
            # Room for the scale test's idle connections, as far as the hard limit allows.
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            want = 30000 if hard == resource.RLIM_INFINITY else min(30000, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        logf = open(os.path.join(self.tmp, "pgmld.log"), "a")
        self.pgmld = subprocess.Popen(
            [os.path.join(self.build, "daemon/pgmld"), "--database-url", self.url(),
             "--server-socket-path", self.sock, "--database-pool-size", str(POOL),
             "--limits-max-connections", "20000", "--log-level", "warn"],
            stdout=logf, stderr=logf, preexec_fn=limits)
        ping = os.path.join(self.build, "clients/c/examples/pgml-ping")
        for _ in range(200):
            if self.pgmld.poll() is not None:
                raise RuntimeError(f"pgmld exited {self.pgmld.returncode}; see {logf.name}")
            if os.path.exists(self.sock) and subprocess.run(
                    [ping, self.sock], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"pgmld did not answer Ping within 20 s; see {logf.name}")

    def stop_pgmld(self):
        if self.pgmld is not None and self.pgmld.poll() is None:
            self.pgmld.send_signal(signal.SIGTERM)
            try:
                self.pgmld.wait(15)
            except subprocess.TimeoutExpired:
                self.pgmld.kill()
                self.pgmld.wait()
        self.pgmld = None

    def start_grpc(self):
        self.grpc = subprocess.Popen([os.path.join(self.build, "grpc/grpc-ping-server"), self.gsock],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.grpc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"grpc-ping-server: {line}")

    def stop(self):
        self.stop_pgmld()
        if self.grpc is not None and self.grpc.poll() is None:
            self.grpc.send_signal(signal.SIGTERM)
            try:
                self.grpc.wait(10)
            except subprocess.TimeoutExpired:
                self.grpc.kill()
        subprocess.run([os.path.join(ROOT, "scripts/pg-cluster.sh"), "stop", self.pgdir])
        shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------ 1. Ping

def bench_ping(svc, m, have_py):
    b = svc.build
    concs = ",".join(map(str, m["ping_concs"]))
    win = [str(m["secs"]), str(m["warm"])]
    node = ["node", os.path.join(ROOT, "bench/node/ping.js"), f"--conc={concs}",
            f"--secs={m['secs']}", f"--warm={m['warm']}"]
    sides = {
        "echo": [os.path.join(b, "bench-bin/echo"), concs] + win,
        "c": [os.path.join(b, "bench-bin/cping"), svc.sock, concs] + win,
        "node-pgml": node + ["--side=pgml", f"--addr={svc.sock}"],
        "node-grpc": node + ["--side=grpc", f"--addr={svc.gsock}"],
    }
    if have_py:
        for loop in ("asyncio", "uvloop"):
            py = [PY, os.path.join(ROOT, "bench/python/ping.py"), f"--loop={loop}", f"--conc={concs}",
                  f"--secs={m['secs']}", f"--warm={m['warm']}", f"--gen={os.path.join(b, 'pygen')}"]
            sides[f"py-{loop}-pgml"] = py + ["--side=pgml", f"--addr={svc.sock}"]
            sides[f"py-{loop}-grpc"] = py + ["--side=grpc", f"--addr={svc.gsock}"]
    res = {s: {} for s in sides}
    cpu = []  # (requests, daemon cpu seconds) of the C client's runs
    names = list(sides)
    for r in range(m["runs"]):
        order = names[r % len(names):] + names[:r % len(names)]
        log(f"ping run {r + 1}/{m['runs']}")
        for s in order:
            c0 = proc_cpu_secs(svc.pgmld.pid)
            out = run_json(sides[s])
            c1 = proc_cpu_secs(svc.pgmld.pid)
            for o in out:
                res[s].setdefault(o["conc"], []).append(o)
            if s == "c":
                # The whole process run, warm-up included: requests ~ rps * (secs + warm).
                reqs = sum(o["rps"] * (m["secs"] + m["warm"]) for o in out)
                cpu.append((reqs, c1 - c0))
    return {"results": res, "cpu": cpu}


# ------------------------------------------------------------------ 2. Vector search

def psql(svc, sql):
    bindir = subprocess.run([os.path.join(ROOT, "scripts/pg-bindir.sh")], capture_output=True,
                            text=True, check=True).stdout.strip()
    return subprocess.run([os.path.join(bindir, "psql"), "-h", svc.pgdir, "-U", "pgmld", "-d", "pgmld",
                           "-qAtX", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def capture_search_sql(svc, spec_path):
    """Turns on statement logging, runs one VectorSearch, and returns the statements pgmld sent."""
    logpath = os.path.join(svc.pgdir, "postgres.log")
    code = ("import asyncio, json, pgml, sys\n"
            "spec = json.load(open(sys.argv[2]))\n"
            "async def m():\n"
            "    async with pgml.Database(sys.argv[1]) as db:\n"
            "        await db.collection(spec['collection']).vector_search(vector=spec['queries'][0], top_k=10)\n"
            "asyncio.run(m())\n")
    # The first search of a fresh daemon fills its catalog cache (two round
    # trips); the one logged is the steady state that follows.
    subprocess.run([PY, "-c", code, svc.sock, spec_path], check=True)
    start = os.path.getsize(logpath)
    psql(svc, "ALTER SYSTEM SET log_min_duration_statement = 0")
    psql(svc, "SELECT pg_reload_conf()")
    time.sleep(0.5)
    subprocess.run([PY, "-c", code, svc.sock, spec_path], check=True)
    time.sleep(0.3)
    psql(svc, "ALTER SYSTEM RESET log_min_duration_statement")
    psql(svc, "SELECT pg_reload_conf()")
    with open(logpath, errors="replace") as f:
        f.seek(start)
        text = f.read()
    stmts = []
    for mt in re.finditer(r"LOG:  duration: [\d.]+ ms  (?:execute [^:]*|statement): (.*)", text):
        s = mt.group(1).strip()
        if "pg_reload_conf" in s or "ALTER SYSTEM" in s:
            continue
        stmts.append(s)
    select = [s for s in stmts if "<=>" in s]
    if not select:
        raise RuntimeError("could not find pgmld's search statement in the PostgreSQL log")
    return stmts, select[-1]


def ensure_vectors(svc, m, have_py):
    n = m["n_vec"]
    spec_path = os.path.join(svc.build, f"vectors-{n}.json")
    name = f"bench_vec_{n}"
    have = psql(svc, "SELECT count(*) FROM pgmld.documents d JOIN pgmld.collections c ON c.id = d.collection_id"
                     f" WHERE c.name = '{name}' AND NOT c.archived") if os.path.exists(spec_path) else "0"
    if have != str(n):
        log(f"loading {n} vectors of 384 dimensions through pgmld (HNSW; cached for later runs)")
        run_json([PY, os.path.join(ROOT, "bench/python/load_vectors.py"), f"--addr={svc.sock}",
                  f"--collection={name}", f"--n={n}", f"--out={spec_path}"], timeout=7200)
    with open(spec_path) as f:
        spec = json.load(f)
    stmts, sql = capture_search_sql(svc, spec_path)
    ef = re.search(r"hnsw\.ef_search', '(\d+)'", " ".join(stmts))
    spec.update(sql=sql, text_field="text", ef_search=int(ef.group(1)) if ef else 40, statements=stmts)
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    psql(svc, "VACUUM ANALYZE")
    return spec_path, spec


def pgmld_script(statements, sql, i):
    """pgmld's statements for one search as a pgbench script, in one pipeline
    as pgmld sends them (the catalog version check and the search).  Left
    out: the pool's occasional health check (only on a connection idle for a
    while) and the session settings pgmld makes once per connection
    (set_config(..., false); pgbench has them from PGOPTIONS)."""
    out = ["\\startpipeline"]
    for st in statements:
        if "health_check" in st or ("set_config" in st and "false)" in st):
            continue
        if "<=>" in st:
            st = sql.replace("$1", f":v{i}").replace("$2", ":tf")
        else:
            st = st.replace("$1", ":cname")
        out.append(st + ";")
    out.append("\\endpipeline")
    return "\n".join(out) + "\n"


def pgbench_files(svc, spec, as_pgmld=False):
    """One script per query vector; :v and :tf become $1/$2 of a prepared statement.
    as_pgmld: every statement pgmld sends for one search, in one pipeline."""
    d = os.path.join(svc.tmp, "pgbench-pgmld" if as_pgmld else "pgbench")
    os.makedirs(d, exist_ok=True)
    files, defs = [], []
    for i, q in enumerate(spec["queries"][:16]):
        p = os.path.join(d, f"q{i}.sql")
        with open(p, "w") as f:
            if not as_pgmld:
                f.write(spec["sql"].replace("$1", f":v{i}").replace("$2", ":tf") + ";\n")
            else:
                f.write(pgmld_script(spec["statements"], spec["sql"], i))
        files += ["-f", p]
        defs += ["-D", f"v{i}=[" + ",".join(repr(x) for x in q) + "]"]
    return files + defs + ["-D", f"tf={spec['text_field']}", "-D", f"cname={spec['collection']}"]


def run_pgbench(svc, spec, args, conc, secs, warm, protocol="prepared", side="pgbench"):
    """pgbench -M prepared at `conc` connections; counts transactions that finish
    in the last `secs` seconds, as the other sides do after their warm-up."""
    d = tempfile.mkdtemp(dir=svc.tmp)
    env = dict(os.environ, PGOPTIONS=f"-c hnsw.ef_search={spec['ef_search']} -c hnsw.iterative_scan=relaxed_order")
    # pgbench cannot wait for every client's first answer before its clock
    # starts: give high concurrency (slow first rounds) extra seconds.
    dur = max(2, int(round(secs + warm + 0.49))) + (2 if conc >= 256 else 0)
    cmd = ["pgbench", "-h", svc.pgdir, "-U", "pgmld", "-n", "-M", protocol, "-c", str(conc),
           "-j", str(min(conc, 2)), "-T", str(dur), "-l", "--log-prefix", os.path.join(d, "tx")] + args + ["pgmld"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=dur * 10 + 120)
    if p.returncode != 0:
        raise RuntimeError(f"pgbench exited {p.returncode}: {p.stderr[-2000:]}")
    done, first = [], {}
    for fn in os.listdir(d):
        with open(os.path.join(d, fn)) as f:
            for line in f:
                x = line.split()
                t = int(x[4]) + int(x[5]) / 1e6
                done.append((t, int(x[2])))
                first[x[0]] = min(first.get(x[0], t), t)
    shutil.rmtree(d, ignore_errors=True)
    # The window: the last `secs` seconds, but not before every client has
    # completed one transaction (the steady state, as on the other sides).
    end = max(t for t, _ in done)
    start = max(end - secs, max(first.values()))
    if end - start < 0.25 * secs:
        start = min(first.values())  # no steady state reached: the whole run
    secs = end - start
    lat = sorted(us for t, us in done if t > start)
    pct = lambda p: lat[round(p * (len(lat) - 1))] if lat else 0  # noqa: E731
    return {"side": side, "conc": conc, "n": len(lat), "secs": secs, "rps": len(lat) / secs,
            "p50_us": pct(0.5), "p99_us": pct(0.99)}


def bench_search(svc, m, have_py):
    spec_path, spec = ensure_vectors(svc, m, have_py)
    pgb = pgbench_files(svc, spec)
    pgb_as = pgbench_files(svc, spec, as_pgmld=True)
    # pgbench-as-pgmld, at 32 only: the statements pgmld sends for a search,
    # prepared and pipelined as pgmld sends them: what they cost PostgreSQL,
    # without the daemon and the client.
    sides = ["node-pgml", "node-pg", "pgbench", "pgbench-as-pgmld"] + (
        ["py-pgml", "py-asyncpg", "py-psycopg"] if have_py else [])
    res = {s: {} for s in sides}
    for r in range(m["runs"]):
        for conc in m["search_concs"]:
            big = conc >= 256
            secs, warm = (m["big_secs"], m["big_warm"]) if big else (m["secs"], max(m["warm"], 0.3))
            order = sides[r % len(sides):] + sides[:r % len(sides)]
            log(f"search run {r + 1}/{m['runs']}, {conc} concurrent")
            for s in order:
                if s == "pgbench-as-pgmld" and conc != 32:
                    continue
                common = [f"--conc={conc}", f"--secs={secs}", f"--warm={warm}", f"--spec={spec_path}",
                          f"--addr={svc.sock}", f"--pghost={svc.pgdir}"]
                if s.startswith("pgbench"):
                    out = [run_pgbench(svc, spec, pgb, conc, secs, warm) if s == "pgbench" else
                           run_pgbench(svc, spec, pgb_as, conc, secs, warm, "prepared", s)]
                elif s.startswith("node-"):
                    out = run_json(["node", os.path.join(ROOT, "bench/node/search.js"), f"--side={s[5:]}"] + common)
                else:
                    out = run_json([PY, os.path.join(ROOT, "bench/python/search.py"), f"--side={s[3:]}"] + common)
                for o in out:
                    res[s].setdefault(o["conc"], []).append(o)
    return {"results": res, "n": spec["n"], "statements": spec["statements"], "sql": spec["sql"],
            "load_secs": spec.get("load_secs")}


# ------------------------------------------------------------------ 3. Ingest, 4. Scale

def bench_ingest(svc, m):
    # At least 5 runs, as everywhere; no more, since at full size one run of
    # both sides takes minutes.
    runs = min(m["runs"], 5) if m["runs"] >= 5 else m["runs"]
    slices = m.get("ingest_slices", False)
    log(f"ingest: {m['n_ingest']} documents " + (f"in {runs} slices" if slices else f"x {runs} runs"))
    out = run_json([PY, os.path.join(ROOT, "bench/python/ingest.py"), f"--addr={svc.sock}",
                    f"--pghost={svc.pgdir}", f"--n={m['n_ingest']}", f"--runs={runs}"]
                   + (["--slices"] if slices else []), timeout=36000)
    res = {}
    for o in out:
        res.setdefault(o["side"], []).append(o)
    return res


def bench_scale(svc, m):
    """A fresh daemon, then N idle connections: RSS growth per accepted connection."""
    log(f"scale: {m['idle']} idle connections to a fresh pgmld")
    svc.stop_pgmld()
    svc.start_pgmld()
    out = run_json([os.path.join(svc.build, "bench-bin/idle"), svc.sock, str(svc.pgmld.pid), str(m["idle"])])
    return out[0]


# ------------------------------------------------------------------ the page

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def summary(runs):
    """Median over runs of throughput, p50 and p99 latency, and the throughput range."""
    return {"rps": med([o["rps"] for o in runs]), "p50": med([o["p50_us"] for o in runs]),
            "p99": med([o["p99_us"] for o in runs]), "min": min(o["rps"] for o in runs),
            "max": max(o["rps"] for o in runs), "runs": len(runs)}


def fmt(x, digits=0):
    if x != x:
        return "n/a"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def div(a, b):
    return a / b if b else float("nan")


SUMMARY = []  # (section, comparison, target, measured, ok): the table at the top of the page


def note(section, comparison, target, measured, ok):
    SUMMARY.append((section, comparison, target, measured, ok))


def verdict(ok):
    return "**met**" if ok else "**not met**"


def ping_section(P):
    res = P["results"]
    L = ["## 1. RPC overhead: unary Ping", "",
         "One connection; a closed loop keeps 1 or 64 requests in flight.  Every client sends",
         "a 12-byte `data` and gets it back.  **echo** is a raw Unix-socket echo of 48-byte",
         "frames (about a Ping frame) by a C program: the physical floor.  **c** is libpgml's",
         "asynchronous API on a `poll()` loop.  The gRPC sides call the same `Ping` on a C++ gRPC",
         "server (system libgrpc++, callback API) on a Unix socket.", ""]
    concs = sorted({c for s in res.values() for c in s})
    S = {s: {c: summary(v[c]) for c in v} for s, v in res.items()}
    for c in concs:
        L += [f"### {c} in flight", "",
              "| client | req/s (median) | req/s range | p50 µs | p99 µs |", "|---|---:|---:|---:|---:|"]
        for s in res:
            if c in S[s]:
                x = S[s][c]
                L.append(f"| {s} | {fmt(x['rps'])} | {fmt(x['min'])}–{fmt(x['max'])} | {fmt(x['p50'], 1)} | {fmt(x['p99'], 1)} |")
        L.append("")
    L += ["### Targets", "", "| comparison | in flight | latency ratio (p50) | throughput ratio | target | |",
          "|---|---:|---:|---:|---|---|"]
    pairs = [("node-pgml", "node-grpc")] + [(f"py-{lp}-pgml", f"py-{lp}-grpc") for lp in ("asyncio", "uvloop")]
    for a, b in pairs:
        if a not in S or b not in S:
            continue
        for c in concs:
            x, y = S[a][c], S[b][c]
            lr, tr = div(x["p50"], y["p50"]), div(x["rps"], y["rps"])
            ok = tr >= 3 if c > 1 else lr <= 1 / 3
            tgt = "latency ≤ 1/3 of gRPC" if c == 1 else "throughput ≥ 3× gRPC"
            L.append(f"| {a} / {b} | {c} | {lr:.3f} | {tr:.2f}× | {tgt} | {verdict(ok)} |")
            note("1. Ping", f"{a} vs {b}, {c} in flight", tgt,
                 f"latency {lr:.3f}" if c == 1 else f"throughput {tr:.1f}×", ok)
    if "c" in S and "echo" in S:
        for c in concs:
            x, y = S["c"][c], S["echo"][c]
            lr, tr = div(x["p50"], y["p50"]), div(x["rps"], y["rps"])
            if c == 1:
                L.append(f"| c / echo | {c} | {lr:.2f}× | {tr:.3f} | latency within 2× of echo | {verdict(lr <= 2)} |")
                note("1. Ping", "C client vs raw echo, 1 in flight", "latency ≤ 2× echo", f"latency {lr:.2f}×", lr <= 2)
            else:
                L.append(f"| c / echo | {c} | {lr:.2f}× | {tr:.3f} | throughput within 2× of echo | {verdict(tr >= 0.5)} |")
                note("1. Ping", f"C client vs raw echo, {c} in flight", "throughput ≥ 1/2 of echo",
                     f"throughput {tr:.3f}", tr >= 0.5)
    L.append("")
    if P["cpu"]:
        reqs = sum(r for r, _ in P["cpu"])
        secs = sum(s for _, s in P["cpu"])
        if secs > 0:
            L += [f"**Requests per second per daemon CPU core** (C client, Ping, all its runs): "
                  f"{fmt(div(reqs, secs))} (pgmld used {secs:.2f} CPU-seconds for about {fmt(reqs)} Pings, "
                  "user + system time from `/proc/PID/stat`).", ""]
    return L, S


def search_section(R):
    res = R["results"]
    S = {s: {c: summary(v[c]) for c in v} for s, v in res.items()}
    concs = sorted({c for s in res.values() for c in s})
    L = ["## 2. Vector search through pgmld vs straight to PostgreSQL", "",
         f"{fmt(R['n'])} vectors of 384 dimensions (random, unit length) in one collection with a",
         "`client` model pipeline and pgvector's HNSW index (m 16, ef_construction 64).  Each request",
         "is top-10 with a client-supplied query vector (16 to 64 different ones, in turn).",
         f"pgmld runs with `--database-pool-size {POOL}`; the direct drivers open one connection per",
         "concurrent request (so 512 at 512), the pool being the point of comparison there.", "",
         "The direct drivers run the statement pgmld sent, captured from PostgreSQL's log in this",
         "run (`log_min_duration_statement = 0` for one search), as a prepared statement, with",
         "`hnsw.ef_search` and `hnsw.iterative_scan` set per session to the values pgmld sets on",
         "its pooled sessions, so both sides return the same rows.  pgbench runs the same statement",
         "(`-M prepared`, one script per query vector).  **pgbench-as-pgmld** (32 concurrent only)",
         "is pgbench running every statement pgmld sends for one search, prepared and in one",
         "pipeline as pgmld sends them (the catalog version check, then the search): PostgreSQL's",
         "share of pgmld's cost, without the daemon or a client library.  (The pool's",
         "`SELECT 1 AS health_check` and pgmld's once-per-session `set_config(..., false)`, if they",
         "show below, do not run per search and are left out.)", "",
         "What pgmld sent to PostgreSQL for one `VectorSearch` (vector elided):", "", "```sql"]
    for s in R["statements"]:
        L.append(re.sub(r"\[[-0-9.,e]{200,}\]", "[...]", s)[:600])
    L += ["```", ""]
    if R.get("load_secs"):
        L += [f"Loading the {fmt(R['n'])} vectors through pgmld (Python client, 500 per upsert, 2 in flight, "
              f"HNSW maintained during the load) took {R['load_secs']:.0f} s; later runs reuse them.", ""]
    for c in concs:
        L += [f"### {c} concurrent", "", "| client | req/s (median) | req/s range | p50 ms | p99 ms |",
              "|---|---:|---:|---:|---:|"]
        for s in res:
            if c in S[s]:
                x = S[s][c]
                L.append(f"| {s} | {fmt(x['rps'])} | {fmt(x['min'])}–{fmt(x['max'])} | {x['p50'] / 1000:.2f} | {x['p99'] / 1000:.2f} |")
        L.append("")
    L += ["### Targets", "", "| comparison | concurrent | throughput ratio | p99 ratio | target | |",
          "|---|---:|---:|---:|---|---|"]
    pairs = [("node-pgml", "node-pg"), ("py-pgml", "py-asyncpg"), ("py-pgml", "py-psycopg"),
             ("node-pgml", "pgbench"), ("py-pgml", "pgbench"), ("pgbench-as-pgmld", "pgbench")]
    for a, b in pairs:
        if a not in S or b not in S:
            continue
        for c in concs:
            if c not in S[a] or c not in S[b]:
                continue
            x, y = S[a][c], S[b][c]
            tr, pr = div(x["rps"], y["rps"]), div(x["p99"], y["p99"])
            if a == "pgbench-as-pgmld":
                tgt, ok = "(PostgreSQL's share of the gap)", None
            elif c == 32:
                need = 0.9 if b == "pgbench" else 0.95
                tgt, ok = f"throughput ≥ {need}", tr >= need
            elif c >= 256:
                tgt, ok = "higher throughput and lower p99", tr > 1 and pr < 1
            else:
                tgt, ok = "(none)", None
            L.append(f"| {a} / {b} | {c} | {tr:.3f} | {pr:.3f} | {tgt} | {'' if ok is None else verdict(ok)} |")
            if ok is not None:
                note("2. Search", f"{a} vs {b}, {c} concurrent", tgt,
                     f"throughput {tr:.2f}, p99 {pr:.2f}" if c >= 256 else f"throughput {tr:.2f}", ok)
    L.append("")
    return L, S


def ingest_section(I, n):
    L = ["## 3. Ingest", ""]
    if not I:
        return L + ["Not run.", ""]
    sliced = any("rows_before" in o for runs in I.values() for o in runs)
    L += [f"{fmt(n)} documents (30 to 60 words each, one chunk each) upserted through pgmld with the",
          "default pipeline (`builtin/lexical` model, 384 dimensions, HNSW and full-text index) from",
          "the Python client, 500 per `UpsertDocuments`, 2 in flight; versus binary `COPY` of the very",
          "rows pgmld wrote (documents, then chunks with their embeddings and tsvectors) into the same",
          "tables with the same indexes, in one transaction."]
    if sliced:
        k = max(len(r) for r in I.values())
        L += [f"At this size each side loads the {fmt(n)} documents once, in {k} slices of {fmt(n // k)}:",
              "run r upserts slice r through pgmld into a collection that keeps growing, then COPYs the",
              "rows pgmld wrote for that slice (ids shifted) into a second collection with the same",
              "pipeline, tables and indexes, which grows the same way; so both sides insert into indexes",
              "of the same size at every run (0, 1/5, ... 4/5 of the total before it).  pgmld goes first",
              "in every run (COPY needs its rows).  The figures per run are each slice's docs/s; the",
              "seconds column is a slice's."]
    else:
        L += ["The sides alternate which goes first."]
    L += [
          "pgmld's two upserts in flight use two PostgreSQL backends at once (both cores), where one COPY",
          "stream uses one: that, not cheaper work, is why pgmld can come out ahead here.", "",
          "| side | docs/s (median) | range | seconds (median) | runs |", "|---|---:|---:|---:|---:|"]
    S = {}
    for side, runs in I.items():
        r = [o["docs_per_s"] for o in runs]
        S[side] = med(r)
        L.append(f"| {side} | {fmt(med(r))} | {fmt(min(r))}–{fmt(max(r))} | {med([o['secs'] for o in runs]):.2f} | {len(r)} |")
    if sliced and "pgml" in I and "copy" in I:
        tp, tc = sum(o["secs"] for o in I["pgml"]), sum(o["secs"] for o in I["copy"])
        L += ["", f"All {fmt(n)} documents: pgmld {tp:.0f} s, COPY {tc:.0f} s (pgmld / COPY throughput "
              f"over the whole load: {div(tc, tp):.2f})."]
    if "pgml" in S and "copy" in S:
        ratio = div(S["pgml"], S["copy"])
        note("3. Ingest", "pgmld (Python client) vs COPY", "≥ 0.7 of COPY", f"{ratio:.2f}", ratio >= 0.7)
        L += ["", f"Ratio pgmld / COPY: **{ratio:.2f}** (target ≥ 0.7: {verdict(ratio >= 0.7)}).  "
              "COPY loads rows already embedded and tokenised; pgmld's figure includes splitting, "
              "embedding and building the tsvectors."]
    return L + [""], S


def scale_section(X):
    if not X:
        return ["## 4. Scale", "", "Not run.", ""]
    ok = 0 <= X["per_conn_kb"] <= 16
    note("4. Scale", f"daemon RSS per idle connection ({X['connections']:,})", "≤ 16 KB",
         f"{X['per_conn_kb']:.2f} KB", ok)
    return ["## 4. Scale", "",
            f"A fresh pgmld, then {fmt(X['connections'])} client connections opened and left idle "
            f"({fmt(X['accepted'])} accepted, counted in `/proc/PID/fd`).  Resident memory went from "
            f"{fmt(X['rss_before_kb'])} KB to {fmt(X['rss_after_kb'])} KB: **{X['per_conn_kb']:.2f} KB per idle "
            f"connection** (target ≤ 16 KB: {verdict(ok)}).  This is the daemon's user-space memory (VmRSS); "
            "the kernel's socket buffers are not in it.", ""]


def plots(docdir, ping_S, search_S):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    os.makedirs(os.path.join(docdir, "benchmarks"), exist_ok=True)
    if ping_S:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, c in zip(axes, sorted({c for s in ping_S.values() for c in s})):
            names = [s for s in ping_S if c in ping_S[s]]
            ax.barh(names, [ping_S[s][c]["rps"] for s in names], color="#4a7ab5")
            ax.set_xscale("log")
            ax.set_title(f"Ping, {c} in flight: requests/s (median, log scale)")
            ax.invert_yaxis()
        fig.tight_layout()
        p = os.path.join(docdir, "benchmarks", "ping.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        out.append(("Ping throughput", "benchmarks/ping.png"))
    if search_S:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for s, v in search_S.items():
            cs = sorted(v)
            axes[0].plot(cs, [v[c]["rps"] for c in cs], marker="o", label=s)
            axes[1].plot(cs, [v[c]["p99"] / 1000 for c in cs], marker="o", label=s)
        for ax, t in zip(axes, ["requests/s (median)", "p99 latency, ms"]):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("concurrent requests")
            ax.set_title(f"Vector search: {t}")
        axes[1].set_yscale("log")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        p = os.path.join(docdir, "benchmarks", "search.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        out.append(("Vector search", "benchmarks/search.png"))
    return out


def write_page(path, mode, m, mach, P, R, I, X, started, errors, elapsed=None, measured=None):
    if elapsed is None:
        elapsed = time.time() - started
        with open(os.path.join(os.path.dirname(path), "benchmarks", f"raw-{mode}.json"), "w") as f:
            json.dump({"mode": mode, "machine": mach, "ping": P, "search": R, "ingest": I, "scale": X,
                       "started": started, "elapsed": elapsed, "errors": errors,
                       "measured": measured}, f)
    L = ["# Benchmarks", "",
         "Measured by `bench/run.sh` (`--quick` or `--full`), which builds pgmld (Release), starts its own",
         "PostgreSQL with pgvector and its own pgmld, runs every comparison below, and writes this page.",
         "Both sides of every comparison run in the same invocation, interleaved (each run goes through",
         "all sides, the starting side rotating from run to run), so a noisy machine moves them alike.",
         "**Quote the ratios**; absolute numbers are for reference only.  Targets are those of issue 8.", "",
         f"This page: mode `{mode}`, {m['runs']} runs per side and setting, measurement windows of "
         f"{m['secs']} s after {m['warm']} s of warm-up ({m['big_secs']} s after {m['big_warm']} s at 512 "
         f"concurrent), generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started + elapsed))} in "
         f"{elapsed / 60:.1f} minutes.", ""]
    if measured and len(set(measured.values())) > 1:
        L += ["Its parts come from more than one run of the command (`--only` with `--merge`, which",
              "keeps the parts a run does not measure from the previous run's raw results):", ""]
        L += [f"- {part}: measured in the run started {when}" for part, when in sorted(measured.items())]
        L += [""]
    L += ["Statistics: each run of a side gives its throughput (requests completed in the window divided",
         "by the window) and the p50 and p99 latency of those requests.  Tables show the **median over",
         "runs** of each, and the range of throughput over runs.  On this shared machine the range",
         "is wide (often ±20% around the median): a ratio within that spread is not a difference.", "",
         "## Machine", "", "| | |", "|---|---|"]
    for k, v in mach.items():
        L.append(f"| {k} | {v} |")
    L += ["",
          "The machine has 2 cores, shared by the client, pgmld, PostgreSQL, and other processes (other",
          "people's builds and tests were running during this measurement; the load averages above",
          "show it: above 2, processes were waiting for a core).  Client, daemon and database compete for the same two cores, which favours the",
          "sides that use fewer processes and less CPU per request.", ""]
    if errors:
        L += ["## Errors during this run", ""] + [f"- {e}" for e in errors] + [""]
    ping_S = search_S = None
    body = []
    if P:
        sec, ping_S = ping_section(P)
        body += sec
    if R:
        sec, search_S = search_section(R)
        body += sec
    sec, _ = ingest_section(I, m["n_ingest"]) if I is not None else (["## 3. Ingest", "", "Not run.", ""], None)
    body += sec
    body += scale_section(X)
    if SUMMARY:
        top = ["## Targets at a glance", "",
               "Every target of issue 8 with this run's ratio; the sections below have the numbers and",
               "the alternatives, and \"Where pgmld loses, and why\" at the end the causes.", "",
               "| | comparison | target | measured | |", "|---|---|---|---|---|"]
        for sec_, comp, tgt, meas, ok in SUMMARY:
            top.append(f"| {sec_} | {comp} | {tgt} | {meas} | {verdict(ok)} |")
        met = sum(1 for x in SUMMARY if x[4])
        top += ["", f"{met} of {len(SUMMARY)} met.", ""]
        body = top + body
    imgs = plots(os.path.dirname(path), ping_S, search_S)
    for title, rel in imgs:
        body += [f"![{title}]({rel})", ""]
    extra = os.path.join(ROOT, "bench/analysis.md")
    if os.path.exists(extra):
        with open(extra) as f:
            body += ["", f.read()]
    with open(path, "w") as f:
        f.write("\n".join(L + body).rstrip() + "\n")


def read_raw(path):
    with open(path) as f:
        raw = json.load(f)
    for part in ("ping", "search"):  # JSON made the concurrency keys strings
        if raw[part]:
            raw[part]["results"] = {s: {int(c): v for c, v in d.items()}
                                    for s, d in raw[part]["results"].items()}
    return raw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=sorted(MODES), default="quick")
    ap.add_argument("--build", default=os.path.join(ROOT, "build/bench"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/benchmarks.md"))
    ap.add_argument("--only", default="ping,search,ingest,scale")
    ap.add_argument("--from-raw", default="", help="rewrite the page from a raw-<mode>.json, running nothing")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: take the parts not measured now from the last raw-<mode>.json")
    a = ap.parse_args()
    if a.from_raw:
        raw = read_raw(a.from_raw)
        write_page(a.out, raw["mode"], MODES[raw["mode"]], raw["machine"], raw["ping"], raw["search"],
                   raw["ingest"], raw["scale"], raw["started"], raw["errors"], raw["elapsed"],
                   raw.get("measured"))
        return 0
    m = MODES[a.mode]
    only = set(a.only.split(","))
    started = time.time()
    try:
        import pgml  # noqa: F401
        have_py = True
    except ImportError:
        have_py = False
        log("the Python extension is not installed: Python sides skipped")
    mach = machine()
    svc = Services(os.path.abspath(a.build))
    P = R = I = X = None
    errors = []
    try:
        svc.start_pg()
        svc.start_pgmld()
        svc.start_grpc()
        for name in ("ping", "search", "ingest", "scale"):
            if name not in only:
                continue
            try:
                if name == "ping":
                    P = bench_ping(svc, m, have_py)
                elif name == "search":
                    R = bench_search(svc, m, have_py)
                elif name == "ingest" and have_py:
                    I = bench_ingest(svc, m)
                elif name == "scale":
                    X = bench_scale(svc, m)
            except Exception as e:  # one comparison failing must not lose the others
                log(f"{name} failed: {e}")
                errors.append(f"{name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    finally:
        mach["load average at end"] = load()
        svc.stop()
    os.makedirs(os.path.join(os.path.dirname(a.out), "benchmarks"), exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    measured = {name: stamp for name in ("ping", "search", "ingest", "scale") if name in only}
    if a.merge:
        raw = read_raw(os.path.join(os.path.dirname(a.out), "benchmarks", f"raw-{a.mode}.json"))
        if raw["mode"] != a.mode:
            raise SystemExit(f"--merge: the last raw results are of mode {raw['mode']}, not {a.mode}")
        then = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(raw["started"]))
        old = raw.get("measured") or {}
        kept = {"ping": raw["ping"], "search": raw["search"], "ingest": raw["ingest"], "scale": raw["scale"]}
        for name in kept:
            if name not in only and kept[name] is not None:
                measured[name] = old.get(name, then)
        P = P if "ping" in only else kept["ping"]
        R = R if "search" in only else kept["search"]
        I = I if "ingest" in only else kept["ingest"]
        X = X if "scale" in only else kept["scale"]
        for k, v in raw["machine"].items():
            if k.startswith("load average"):
                mach[f"{k} (run of {then})"] = v
        errors = raw["errors"] + errors
    write_page(a.out, a.mode, m, mach, P, R, I, X, started, errors, measured=measured)
    log(f"wrote {a.out} in {(time.time() - started) / 60:.1f} minutes")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
