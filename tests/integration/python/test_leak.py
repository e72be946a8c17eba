"""No reference leaks: 100,000 calls, and memory stays flat.

Measured three ways after a warm-up: the resident set size of the process,
the bytes tracemalloc sees allocated by Python, and the number of objects
the garbage collector tracks.  A leak of one object per call would show as
100,000 objects and several MB."""
import asyncio
import gc
import os
import tracemalloc

import pgml

CALLS = 100_000
BATCH = 100


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def run(db, n, data):
    # A batch of concurrent calls, and one awaited alone, per round.
    for i in range(0, n, BATCH):
        await asyncio.gather(*(db.ping(data) for _ in range(BATCH - 1)))
        r = await db.ping(data)
        assert r.data == data


async def run_errors(db, n):
    c = db.collection("never_created_leak_probe")
    for _ in range(n):
        try:
            await c.list_pipelines()
        except pgml.Error:
            pass


def measure():
    gc.collect()
    return rss_bytes(), tracemalloc.get_traced_memory()[0], len(gc.get_objects())


async def test_reference_leak_loop(address):
    async with pgml.Database(address) as db:
        data = b"leak-check" * 10
        await run(db, 10_000, data)          # warm-up: caches, free lists, pools
        await run_errors(db, 1_000)
        tracemalloc.start()
        try:
            rss0, traced0, objs0 = measure()
            await run(db, CALLS, data)
            await run_errors(db, 10_000)
            rss1, traced1, objs1 = measure()
        finally:
            tracemalloc.stop()
    print(f"\n{CALLS} pings + 10000 failing calls: RSS {rss0 / 1e6:.1f} -> {rss1 / 1e6:.1f} MB, "
          f"traced {traced0} -> {traced1} bytes, gc objects {objs0} -> {objs1}")
    assert objs1 - objs0 < 100, (objs0, objs1)
    assert traced1 - traced0 < 256 * 1024, (traced0, traced1)
    assert rss1 - rss0 < 8 * 1024 * 1024, (rss0, rss1)


async def test_no_leak_on_deadlines_and_cancellation(fake):
    """The paths that end a call early (deadline, task cancelled, closed)
    leak nothing either."""
    async def rounds(db, n):
        for _ in range(n):
            # 50 deadlines, 50 cancelled tasks, 1 success.
            timed = [db.ping(b"hang", timeout=0.005) for _ in range(50)]
            tasks = [asyncio.ensure_future(db.ping(b"hang")) for _ in range(50)]
            await asyncio.sleep(0)
            for t in tasks:
                t.cancel()
            results = await asyncio.gather(*timed, *tasks, return_exceptions=True)
            assert all(isinstance(r, (pgml.DeadlineExceeded, asyncio.CancelledError))
                       for r in results)
            assert (await db.ping(b"ok")).data == b"ok"
            fake.requests.clear()
            fake.cancels.clear()

    async with pgml.Database(fake.address) as db:
        await rounds(db, 20)
        gc.collect()
        objs0, rss0 = len(gc.get_objects()), rss_bytes()
        await rounds(db, 200)
        gc.collect()
        objs1, rss1 = len(gc.get_objects()), rss_bytes()
        assert db.pending == 0
    print(f"\n20,000 early-ended calls: RSS {rss0 / 1e6:.1f} -> {rss1 / 1e6:.1f} MB, "
          f"gc objects {objs0} -> {objs1}")
    assert objs1 - objs0 < 100, (objs0, objs1)
    assert rss1 - rss0 < 8 * 1024 * 1024, (rss0, rss1)
