// cancel.test.js - AbortSignal and deadlines: a silent server makes the
// outcome deterministic (nothing ever answers), and the CANCEL frame the
// client sends is seen arriving.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { pgml, startDaemon, startSilent } = require('./helpers');

test('deadlines and cancellation', async (t) => {
  const silent = await startSilent();
  const db = new pgml.Database(silent.address);
  t.after(async () => {
    await db.close();
    await silent.close();
  });

  await t.test('timeoutMs: DeadlineExceededError, and a CANCEL is sent', async () => {
    // Long enough for the request to reach the server on a loaded machine
    // (the assertion is about what follows the deadline, not its length).
    const sent = silent.received;
    const p = db.ping('x', { timeoutMs: 2000 }).then(() => null, (err) => err);
    await silent.moreThan(sent);
    const before = silent.received;
    const e = await p;
    assert.ok(e instanceof pgml.DeadlineExceededError, String(e));
    assert.equal(e.code, 'DEADLINE_EXCEEDED');
    // The request frame arrived before; the CANCEL frame follows it.
    await silent.moreThan(before);
  });

  await t.test('the constructor\'s timeoutMs is every call\'s default', async () => {
    const d = new pgml.Database(silent.address, { timeoutMs: 30 });
    await assert.rejects(d.serverInfo(), pgml.DeadlineExceededError);
    await d.close();
  });

  await t.test('AbortSignal: CancelledError, and a CANCEL is sent', async () => {
    const ac = new AbortController();
    const sent = silent.received;
    const p = db.ping('y', { signal: ac.signal });
    // Let the request reach the server first.
    await silent.moreThan(sent);
    const before = silent.received;
    ac.abort();
    const e = await p.then(() => null, (err) => err);
    assert.ok(e instanceof pgml.CancelledError, String(e));
    assert.match(e.message, /AbortSignal/);
    await silent.moreThan(before);
  });

  await t.test('an aborted signal cancels at once; AbortSignal.timeout works', async () => {
    await assert.rejects(db.ping('z', { signal: AbortSignal.abort() }), pgml.CancelledError);
    await assert.rejects(db.serverInfo({}, { signal: AbortSignal.timeout(20) }),
      pgml.CancelledError);
  });

  await t.test('aborting after completion changes nothing', async () => {
    const daemon = await startDaemon();
    const real = new pgml.Database(daemon.address);
    const ac = new AbortController();
    const r = await real.ping('done', { signal: ac.signal });
    ac.abort();
    assert.equal(r.data.toString(), 'done');
    // Aborted at once, against a real server: cancelled before any answer.
    const ac2 = new AbortController();
    const p = real.ping('late', { signal: ac2.signal });
    ac2.abort();
    await assert.rejects(p, pgml.CancelledError);
    assert.equal((await real.ping('after')).data.toString(), 'after');
    await real.close();
    await daemon.stop();
  });
});
