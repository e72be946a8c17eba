// load.test.js - 1,000 concurrent promises on one Database, and memory
// that stays flat over 100,000 calls.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { pgml, startDaemon } = require('./helpers');

test('load', async (t) => {
  const daemon = await startDaemon();
  const db = new pgml.Database(daemon.address);
  t.after(async () => {
    await db.close();
    await daemon.stop();
  });

  await t.test('1,000 concurrent calls each get their own answer', async () => {
    const n = 1000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => db.ping(Buffer.from(`call-${i}`))));
    assert.equal(results.length, n);
    results.forEach((r, i) => assert.equal(r.data.toString(), `call-${i}`));
  });

  await t.test('memory stays flat over 100,000 calls', async () => {
    const batch = 1000;
    const payload = Buffer.alloc(1024, 7);
    const run = async (calls) => {
      for (let done = 0; done < calls; done += batch) {
        const rs = await Promise.all(Array.from({ length: batch }, () => db.ping(payload)));
        assert.equal(rs[batch - 1].data.length, 1024);
      }
    };
    const sample = () => {
      if (global.gc) global.gc();
      return process.memoryUsage();
    };
    await run(10000); // warm-up: allocator pools, JIT, sanitizer quarantine
    const samples = [];
    for (let i = 0; i < 9; i++) {
      samples.push(sample());
      await run(10000);
    }
    samples.push(sample());
    const mib = (x) => (x / 1048576).toFixed(1);
    const rssFirst = Math.max(...samples.slice(0, 5).map((m) => m.rss));
    const rssLast = Math.max(...samples.slice(5).map((m) => m.rss));
    const heapGrowth = samples[9].heapUsed - samples[0].heapUsed;
    console.log(`# 100,000 calls: rss ${samples.map((m) => mib(m.rss)).join(' ')} MiB; ` +
                `heapUsed ${mib(samples[0].heapUsed)} -> ${mib(samples[9].heapUsed)} MiB`);
    // RSS moves with the allocator and the collector; a leak shows as the
    // second half's peak above the first half's.  Leaking the 1 KiB request
    // or response of each call would add about 45 MiB, a reference held per
    // call (a promise, a Buffer) a few MiB of JavaScript heap.
    assert.ok(rssLast - rssFirst < 24 * 1048576,
      `RSS peak grew by ${mib(rssLast - rssFirst)} MiB over 50,000 calls`);
    assert.ok(heapGrowth < 4 * 1048576, `heapUsed grew by ${mib(heapGrowth)} MiB`);
  });
});
