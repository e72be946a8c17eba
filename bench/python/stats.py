"""Latency samples and the one-line JSON result shared by the Python bench programs."""
import asyncio
import json
import sys
import time


def report(side, conc, lat, secs, **extra):
    s = sorted(lat)

    def pct(p):
        return s[round(p * (len(s) - 1))] if s else 0.0

    out = {"side": side, "conc": conc, "n": len(s), "secs": secs, "rps": len(s) / secs,
           "p50_us": pct(0.5), "p99_us": pct(0.99)}
    out.update(extra)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


async def closed_loop(conc, warm, secs, once, warm_max=None):
    """`conc` closed loops of `await once()`; returns the latencies (microseconds)
    of the calls that complete inside the measured window.  The window opens
    once `warm` seconds have passed and every loop has completed one call (the
    steady state, also when one call takes longer than the warm-up), or at the
    latest after `warm_max` seconds (default 3 * warm, at least 10), and lasts `secs` seconds."""
    clock = time.perf_counter
    t0 = clock()
    w = {"start": float("inf"), "end": float("inf"), "ready": 0}
    lat = []

    def open_window():
        if w["start"] == float("inf"):
            w["start"] = max(clock(), t0 + warm)
            w["end"] = w["start"] + secs

    cap = asyncio.get_running_loop().call_later(warm_max or max(3 * warm, 10.0), open_window)

    async def worker(i):
        first = True
        while True:
            s = clock()
            if s >= w["end"]:
                return
            await once()
            e = clock()
            if w["start"] <= e < w["end"]:
                lat.append((e - s) * 1e6)
            if first:
                first = False
                w["ready"] += 1
                if w["ready"] == conc:
                    open_window()

    await asyncio.gather(*(worker(i) for i in range(conc)))
    cap.cancel()
    return lat
