"""Ingest: N documents upserted through pgmld (lexical model, batches) vs COPY of the same rows into the same tables.

Fresh (the default, for small N): each run upserts the N documents into a
fresh collection through the pgml client, reads back the rows pgmld wrote
(documents and chunks, with their embeddings and tsvectors), empties the
tables of them, and loads them again with binary COPY in one transaction,
indexes in place.  The two sides alternate which goes first from run to run.

--slices (for large N, where loading N rows several times per side would
take hours): the N documents are split into `runs` slices.  Run r upserts
slice r through pgmld into collection A, which keeps growing, then loads the
very rows pgmld wrote for that slice (ids shifted) with binary COPY into
collection B, which has the same pipeline, tables and indexes and grows the
same way.  Each side loads N rows once in all, into indexes of the same
size at every run.  pgmld goes first in every run: COPY needs its rows.
"""
import argparse
import asyncio
import json
import random
import time

import pgml
import psycopg

WORDS = ("postgres vector search index query table row column daemon socket client server "
         "pool connection latency throughput memory buffer frame protocol cosine distance "
         "embedding model lexical chunk splitter document metadata filter hybrid keyword "
         "transaction commit prepared statement plan cache shared worker thread loop event").split()


def make_docs(n, seed=7):
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 60))) + "."
        docs.append({"id": f"doc{i}", "text": text, "n": i, "tag": rng.choice(["a", "b", "c"])})
    return docs


async def via_pgml(addr, name, docs, batch, inflight):
    await fresh_collection(addr, name)
    return await upsert_more(addr, name, docs, batch, inflight)


def ids(conn, name):
    row = conn.execute("SELECT c.id, p.id FROM pgmld.collections c JOIN pgmld.pipelines p"
                       " ON p.collection_id = c.id WHERE c.name = %s AND NOT c.archived",
                       (name,)).fetchone()
    return row[0], f'pgmld."chunks_{row[1]}"'


def copy_out(conn, queries):
    """{key: the binary COPY output of query} for each (key, query)."""
    out = {}
    for key, q in queries:
        buf = bytearray()
        with conn.cursor().copy(f"COPY ({q}) TO STDOUT (FORMAT binary)") as cp:
            for data in cp:
                buf += data
        out[key] = bytes(buf)
    return out


def export(conn, name):
    cid, chunks = ids(conn, name)
    return cid, chunks, copy_out(conn, (
        ("documents", f"SELECT * FROM pgmld.documents WHERE collection_id = {cid}"),
        ("chunks", f"SELECT c.* FROM {chunks} c JOIN pgmld.documents d"
                   f" ON d.id = c.document_id WHERE d.collection_id = {cid}")))


def columns(conn, table):
    """(name, type) of a table's columns, in order."""
    return conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (table,)).fetchall()


def export_slice(conn, src, dst, lo, hi, shift):
    """The rows pgmld wrote for documents lo <= n < hi of collection src, in
    the column order of their tables, with ids shifted by `shift` and the
    collection id and chunk table of dst: ready for COPY into dst."""
    (scid, schunks), (dcid, dchunks) = ids(conn, src), ids(conn, dst)
    def expr(alias, c, t):
        # Binary COPY wants each value in the column's own type.
        if c in ("id", "document_id"):
            return f'({alias}."{c}" + {shift})::{t}'
        if c == "collection_id":
            return f"{dcid}::{t}"
        return f'{alias}."{c}"'
    dcols = ", ".join(expr("d", c, t) for c, t in columns(conn, "pgmld.documents"))
    ccols = ", ".join(expr("c", c, t) for c, t in columns(conn, schunks))
    where = f"d.collection_id = {scid} AND (d.document->>'n')::int >= {lo} AND (d.document->>'n')::int < {hi}"
    return dcid, dchunks, copy_out(conn, (
        ("documents", f"SELECT {dcols} FROM pgmld.documents d WHERE {where}"),
        ("chunks", f"SELECT {ccols} FROM {schunks} c JOIN pgmld.documents d"
                   f" ON d.id = c.document_id WHERE {where}")))


def copy_in(conn, chunks, data):
    t0 = time.perf_counter()
    with conn.transaction():
        with conn.cursor().copy("COPY pgmld.documents FROM STDIN (FORMAT binary)") as cp:
            cp.write(data["documents"])
        with conn.cursor().copy(f"COPY {chunks} FROM STDIN (FORMAT binary)") as cp:
            cp.write(data["chunks"])
    return time.perf_counter() - t0


async def fresh_collection(addr, name):
    async with pgml.Database(addr, timeout=3600) as db:
        if (await db.collection_exists(name)).exists:
            await db.drop_collection(name)
        col = await db.create_or_get_collection(name)
        await col.add_pipeline("default", fulltext_config="english")


async def upsert_more(addr, name, docs, batch, inflight):
    async with pgml.Database(addr, timeout=3600) as db:
        col = db.collection(name)
        sem = asyncio.Semaphore(inflight)

        async def one(lo):
            async with sem:
                await col.upsert_documents(docs[lo:lo + batch])

        t0 = time.perf_counter()
        await asyncio.gather(*(one(lo) for lo in range(0, len(docs), batch)))
        return time.perf_counter() - t0


async def sliced(a, docs, conn):
    src, dst = "bench_ingest", "bench_ingest_copy"
    await fresh_collection(a.addr, src)
    await fresh_collection(a.addr, dst)
    shift = 1 << 40  # dst's ids: pgmld's plus this, clear of every real id
    per = a.n // a.runs
    for r in range(a.runs):
        lo, hi = r * per, (r + 1) * per if r < a.runs - 1 else a.n
        secs = await upsert_more(a.addr, src, docs[lo:hi], a.batch, a.inflight)
        print(json.dumps({"side": "pgml", "run": r, "docs": hi - lo, "secs": secs,
                          "docs_per_s": (hi - lo) / secs, "rows_before": lo}), flush=True)
        _, dchunks, data = export_slice(conn, src, dst, lo, hi, shift)
        secs = copy_in(conn, dchunks, data)
        print(json.dumps({"side": "copy", "run": r, "docs": hi - lo, "secs": secs,
                          "docs_per_s": (hi - lo) / secs, "rows_before": lo}), flush=True)


def via_copy(conn, name, dump):
    cid, chunks, data = dump
    # TRUNCATE leaves the chunks table and its HNSW and GIN indexes empty, as
    # pgmld's side finds them in its fresh collection.
    conn.execute(f"TRUNCATE {chunks}")
    conn.execute("DELETE FROM pgmld.documents WHERE collection_id = %s", (cid,))
    conn.execute("VACUUM pgmld.documents")
    return copy_in(conn, chunks, data)


async def main(a):
    docs = make_docs(a.n)
    conn = psycopg.connect(host=a.pghost, dbname="pgmld", user="pgmld", autocommit=True)
    if a.slices:
        await sliced(a, docs, conn)
        conn.close()
        return
    name = "bench_ingest"
    for r in range(a.runs):
        order = ("pgml", "copy") if r % 2 == 0 else ("copy", "pgml")
        if order[0] == "copy":
            # COPY needs rows pgmld wrote: produce them first, untimed.
            await via_pgml(a.addr, name, docs, a.batch, a.inflight)
        for side in order:
            if side == "pgml":
                secs = await via_pgml(a.addr, name, docs, a.batch, a.inflight)
            else:
                dump = export(conn, name)
                secs = via_copy(conn, name, dump)
            print(json.dumps({"side": side, "run": r, "docs": a.n, "secs": secs,
                              "docs_per_s": a.n / secs}), flush=True)
    conn.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--pghost", required=True)
    p.add_argument("--n", type=int, default=100000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--inflight", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--slices", action="store_true",
                   help="load N documents once per side, in `runs` slices (see above)")
    asyncio.run(main(p.parse_args()))
