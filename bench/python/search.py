"""Top-10 vector search from Python: pgml through pgmld, or asyncpg / psycopg straight to PostgreSQL."""
import argparse
import asyncio
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import closed_loop, report  # noqa: E402


async def run_side(a, spec, conc):
    queries = spec["queries"]
    qtext = ["[" + ",".join(repr(x) for x in q) + "]" for q in queries]
    state = {"next": 0}
    settings = {"hnsw.ef_search": str(spec["ef_search"]), "hnsw.iterative_scan": "relaxed_order"}

    def pick():
        i = state["next"] % len(queries)
        state["next"] += 1
        return i

    if a.side == "pgml":
        import pgml
        db = pgml.Database(a.addr)
        col = db.collection(spec["collection"])

        async def once():
            r = await col.vector_search(vector=queries[pick()], top_k=10)
            if len(r) != 10:
                raise RuntimeError(f"pgml: {len(r)} results, expected 10")
        close = db.close
    elif a.side == "asyncpg":
        import asyncpg
        pool = await asyncpg.create_pool(host=a.pghost, database="pgmld", user="pgmld",
                                         min_size=conc, max_size=conc, server_settings=settings)

        async def once():
            # asyncpg prepares and caches the statement on each connection.
            rows = await pool.fetch(spec["sql"], qtext[pick()], spec["text_field"])
            if len(rows) != 10:
                raise RuntimeError(f"asyncpg: {len(rows)} rows, expected 10")
        close = pool.close
    elif a.side == "psycopg":
        import psycopg
        opts = " ".join(f"-c {k}={v}" for k, v in settings.items())
        conns = await asyncio.gather(*(
            psycopg.AsyncConnection.connect(host=a.pghost, dbname="pgmld", user="pgmld",
                                            options=opts, autocommit=True, prepare_threshold=0)
            for _ in range(conc)))
        free = asyncio.Queue()
        for c in conns:
            free.put_nowait(c)
        sql = spec["sql"].replace("$1", "%s").replace("$2", "%s")
        # $1 appears three times: psycopg's %s are positional, so repeat the values.
        order = [int(t) for t in re.findall(r"\$(\d)", spec["sql"])]

        async def once():
            c = await free.get()
            try:
                i = pick()
                vals = [qtext[i] if n == 1 else spec["text_field"] for n in order]
                cur = await c.execute(sql, vals, prepare=True)
                rows = await cur.fetchall()
            finally:
                free.put_nowait(c)
            if len(rows) != 10:
                raise RuntimeError(f"psycopg: {len(rows)} rows, expected 10")

        async def close():
            for c in conns:
                await c.close()
    else:
        raise SystemExit(f"--side must be pgml, asyncpg or psycopg, not {a.side}")
    lat = await closed_loop(conc, a.warm, a.secs, once)
    report(f"py-{a.side}", conc, lat, a.secs)
    await close()


async def main(a):
    with open(a.spec) as f:
        spec = json.load(f)
    for conc in a.conc:
        await run_side(a, spec, conc)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--side", required=True)
    p.add_argument("--addr", default="")
    p.add_argument("--pghost", default="")
    p.add_argument("--spec", required=True)
    p.add_argument("--conc", default="1,32,512", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--secs", default=1.0, type=float)
    p.add_argument("--warm", default=0.3, type=float)
    p.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    a = p.parse_args()
    if a.loop == "uvloop":
        import uvloop
        uvloop.run(main(a))
    else:
        asyncio.run(main(a))
