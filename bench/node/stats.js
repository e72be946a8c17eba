// Latency samples and the one-line JSON result shared by the Node bench programs.
'use strict';

function now() {
  return Number(process.hrtime.bigint()) / 1000; // microseconds
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.round(p * (sorted.length - 1))];
}

function report(side, conc, lat, secs, extra) {
  const s = Float64Array.from(lat).sort();
  const out = Object.assign({
    side, conc, n: s.length, secs, rps: s.length / secs,
    p50_us: pct(s, 0.5), p99_us: pct(s, 0.99),
  }, extra || {});
  process.stdout.write(JSON.stringify(out) + '\n');
}

// Runs `conc` closed loops of `once()` and records the latency of the calls
// that complete inside the measured window.  The window opens once `warm`
// seconds have passed AND every loop has completed one call (so that at high
// concurrency, where one call can take longer than the warm-up, it measures
// the steady state, not the ramp), or at the latest after `warmMax` seconds
// (default 3 * warm, at least 10), and lasts `secs` seconds.
async function closedLoop(conc, warm, secs, once, warmMax) {
  const t0 = now();
  let recStart = Infinity, end = Infinity, ready = 0;
  const lat = [];
  let failed = null;
  function open() {
    if (recStart !== Infinity) return;
    recStart = Math.max(now(), t0 + warm * 1e6);
    end = recStart + secs * 1e6;
  }
  const cap = setTimeout(open, 1000 * (warmMax || Math.max(3 * warm, 10)));
  async function worker(i) {
    let first = true;
    for (;;) {
      const s = now();
      if (s >= end || failed) return;
      try {
        await once(i);
      } catch (e) {
        failed = e;
        return;
      }
      const e = now();
      if (e >= recStart && e < end) lat.push(e - s);
      if (first) {
        first = false;
        if (++ready === conc) open();
      }
    }
  }
  const ws = [];
  for (let i = 0; i < conc; i++) ws.push(worker(i));
  await Promise.all(ws);
  clearTimeout(cap);
  if (failed) throw failed;
  return lat;
}

function parseArgs(argv) {
  const o = {};
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}: expected --name=value`);
    o[m[1]] = m[2];
  }
  return o;
}

module.exports = { now, report, closedLoop, parseArgs };
