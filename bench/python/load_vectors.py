"""Loads N random 384-dim vectors into a pgmld collection (client model, HNSW) and writes query vectors."""
import argparse
import asyncio
import json
import random
import time

import pgml


def unit(rng, dim):
    v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


async def main(a):
    rng = random.Random(42)
    async with pgml.Database(a.addr, timeout=600) as db:
        if (await db.collection_exists(a.collection)).exists:
            await db.drop_collection(a.collection)
        col = await db.create_or_get_collection(a.collection)
        await col.add_pipeline("vec", model={"name": "client", "dimensions": a.dim})
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(2)

        async def batch(lo, hi, vecs):
            async with sem:
                await col.upsert_documents(
                    [{"id": f"d{i}", "text": f"document {i}", "n": i} for i in range(lo, hi)],
                    vectors=[{"values": v} for v in vecs])

        tasks = []
        for lo in range(0, a.n, a.batch):
            hi = min(a.n, lo + a.batch)
            tasks.append(asyncio.create_task(batch(lo, hi, [unit(rng, a.dim) for _ in range(lo, hi)])))
        await asyncio.gather(*tasks)
        secs = time.perf_counter() - t0
    queries = [unit(rng, a.dim) for _ in range(a.queries)]
    with open(a.out, "w") as f:
        json.dump({"collection": a.collection, "dim": a.dim, "n": a.n, "load_secs": secs,
                   "queries": queries}, f)
    print(json.dumps({"loaded": a.n, "secs": round(secs, 2)}))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--collection", default="bench_vec")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--out", required=True)
    asyncio.run(main(p.parse_args()))
