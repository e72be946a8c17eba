// faults.test.js - what must not crash: an abort listener that outlives its
// call (a signal-like object that keeps it), and every allocation of a call
// failing in turn (fault injection through the addon's one allocation
// wrapper, libpgml's).  In a sanitizer build a use after free or a leak
// aborts the process, so these tests fail loudly there.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { pgml, pkgDir, startDaemon, startSilent } = require('./helpers');

// The addon itself (the same instance index.js loaded) for its test hooks.
const addon = require(path.join(pkgDir, 'build', 'Release', 'pgml.node'));

// A signal-like object that keeps every listener it is given, however it is
// asked to remove it: `remove` is its removeEventListener (or not a
// function at all).
function stickySignal(remove) {
  const listeners = [];
  return {
    aborted: false,
    listeners,
    addEventListener(type, fn) {
      if (type === 'abort') listeners.push(fn);
    },
    removeEventListener: remove,
    fire() {
      this.aborted = true;
      for (const fn of listeners) fn();
    },
  };
}

test('an abort listener that outlives its call does nothing', async (t) => {
  const silent = await startSilent();
  const db = new pgml.Database(silent.address);
  t.after(async () => {
    await db.close();
    await silent.close();
  });

  await t.test('removeEventListener is not a function', async () => {
    const sig = stickySignal(undefined);
    await assert.rejects(db.ping('a', { signal: sig, timeoutMs: 20 }),
      pgml.DeadlineExceededError);
    assert.equal(sig.listeners.length, 1);
    // The call and its state are gone: firing now must not touch them.
    sig.fire();
    if (global.gc) global.gc();
    sig.fire();
    assert.equal(db.pending, 0);
  });

  await t.test('removeEventListener throws (reported, the call still settles)', async () => {
    const seen = [];
    const onUncaught = (err) => seen.push(err);
    // The throw is reported as an uncaught exception, not lost; the test
    // runner's own handler is set aside while it is expected.
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      const sig = stickySignal(() => { throw new Error('removeEventListener refused'); });
      await assert.rejects(db.ping('b', { signal: sig, timeoutMs: 20 }),
        pgml.DeadlineExceededError);
      await new Promise((resolve) => setImmediate(resolve));
      sig.fire();
      if (global.gc) global.gc();
      sig.fire();
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const fn of saved) process.on('uncaughtException', fn);
    }
    assert.equal(seen.length, 1);
    assert.match(String(seen[0]), /removeEventListener refused/);
  });

  await t.test('a removeEventListener getter that throws', async () => {
    const seen = [];
    const onUncaught = (err) => seen.push(err);
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      const sig = stickySignal(undefined);
      Object.defineProperty(sig, 'removeEventListener', {
        get() { throw new Error('no getter'); },
      });
      // Settles even though the listener could not be looked up.
      await assert.rejects(db.ping('c', { signal: sig, timeoutMs: 20 }),
        pgml.DeadlineExceededError);
      sig.fire();
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const fn of saved) process.on('uncaughtException', fn);
    }
    assert.equal(seen.length, 1);
    assert.match(String(seen[0]), /no getter/);
  });
});

// Runs `fn` (one call) with the nth allocation from its start failing, for
// n = 1, 2, ... until the call no longer reaches the nth allocation: every
// allocation the call makes, in the addon, libpgml and protobuf-c, has then
// failed once.  A call that fails must throw or reject with an Error, never
// crash; one that succeeds must give the right value (`check`); and the
// Database must work again once the failure is over.  Returns the messages
// of the failures seen.
async function sweep(db, name, fn, check) {
  const messages = [];
  for (let n = 1; ; n++) {
    assert.ok(n < 2000, `${name}: still failing after ${n} allocations`);
    const before = addon.testing.allocStats().failures;
    let outcome;
    addon.testing.failAllocAfter(n, false);
    try {
      outcome = { value: await fn() };
    } catch (err) {
      outcome = { err };
    } finally {
      addon.testing.failAllocAfter(0, false);
    }
    const injected = addon.testing.allocStats().failures > before;
    if (outcome.err !== undefined) {
      assert.ok(outcome.err instanceof Error, `${name} #${n}: threw a non-Error: ${outcome.err}`);
      assert.ok(injected, `${name} #${n}: failed with no allocation refused: ${outcome.err}`);
      messages.push(`${outcome.err.code}: ${outcome.err.message}`);
    } else {
      check(outcome.value);
    }
    // The next call works (it reconnects if the failure cost the connection).
    assert.equal((await db.ping('again')).data.toString(), 'again');
    if (!injected) return { allocations: n - 1, messages };
  }
}

test('every allocation of a call failing in turn', async (t) => {
  const daemon = await startDaemon();
  t.after(() => daemon.stop());
  const db = new pgml.Database(daemon.address);
  t.after(() => db.close());
  assert.equal((await db.ping('warm')).data.toString(), 'warm');

  await t.test('ping: failures reject (or throw) with an Error', async (st) => {
    const r = await sweep(db, 'ping', () => db.ping('x'),
      (v) => assert.equal(v.data.toString(), 'x'));
    st.diagnostic(`ping: ${r.allocations} allocations, ${r.messages.length} failed calls: ` +
      [...new Set(r.messages)].join('; '));
    assert.ok(r.allocations > 3, `ping made ${r.allocations} allocations`);
    // The request's own allocations fail synchronously with ERR_PGML_NOMEM.
    assert.ok(r.messages.some((m) => /^ERR_PGML_NOMEM: ping: out of memory/.test(m)),
      r.messages.join('\n'));
    // The response's decode failing rejects with an InternalError (the
    // result_value() reject path), not an uninitialised value.
    assert.ok(r.messages.some((m) => /^INTERNAL: ping: the response .* could not be decoded/
      .test(m)), r.messages.join('\n'));
  });

  await t.test('createOrGetCollection: the Collection failing to be made rejects', async (st) => {
    const name = `faults_${process.pid}`;
    const r = await sweep(db, 'createOrGetCollection', () => db.createOrGetCollection(name),
      (v) => {
        assert.ok(v instanceof pgml.Collection);
        assert.equal(v.name, name);
      });
    st.diagnostic(`createOrGetCollection: ${r.allocations} allocations, ` +
      `${r.messages.length} failed calls`);
    // The bound object's constructor failing (an exception, during the
    // conversion of a result) rejects with that exception.
    assert.ok(r.messages.some((m) => /^ERR_PGML_NOMEM: Collection: out of memory/.test(m)),
      r.messages.join('\n'));
  });

  await t.test('an AbortSignal on a call whose allocations fail', async () => {
    const ac = new AbortController();
    const r = await sweep(db, 'ping+signal', () => db.ping('s', { signal: ac.signal }),
      (v) => assert.equal(v.data.toString(), 's'));
    assert.ok(r.messages.length > 0);
    // Whatever listeners were left behind find their calls gone.
    ac.abort();
    if (global.gc) global.gc();
    assert.equal((await db.ping('end')).data.toString(), 'end');
  });

  await t.test('every allocation failing: errors, then everything works again', async () => {
    addon.testing.failAllocAfter(1, true);
    let syncErr = null;
    let ctorErr = null;
    try {
      await db.ping('never');
    } catch (err) {
      syncErr = err;
    }
    try {
      // eslint-disable-next-line no-new
      new pgml.Database(daemon.address);
    } catch (err) {
      ctorErr = err;
    } finally {
      addon.testing.failAllocAfter(0, false);
    }
    assert.ok(syncErr instanceof Error && /out of memory/.test(syncErr.message), String(syncErr));
    assert.ok(ctorErr instanceof Error && /out of memory|Cannot allocate/.test(ctorErr.message),
      String(ctorErr));
    assert.equal((await db.ping('back')).data.toString(), 'back');
  });

  await t.test('testing.failAllocAfter checks its arguments', () => {
    assert.throws(() => addon.testing.failAllocAfter(), TypeError);
    assert.throws(() => addon.testing.failAllocAfter(-1), RangeError);
    assert.throws(() => addon.testing.failAllocAfter(1, 'yes'), TypeError);
    assert.ok(!Object.keys(pgml).includes('testing'));
  });
});
