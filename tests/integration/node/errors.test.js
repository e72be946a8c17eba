// errors.test.js - the error classes, and the outcomes that produce them:
// UNIMPLEMENTED and INVALID_ARGUMENT from pgmld, UNAVAILABLE without one,
// DEADLINE_EXCEEDED and CANCELLED from the client.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pgml, startDaemon } = require('./helpers');

const CODES = ['CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION',
  'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS',
  'UNAUTHENTICATED'];

function className(codeName) {
  return codeName.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase()) + 'Error';
}

test('one Error subclass per status code', () => {
  assert.equal(pgml.Error, pgml.PgmlError);
  assert.ok(new pgml.Error('m') instanceof Error);
  CODES.forEach((codeName, i) => {
    const cls = pgml[className(codeName)];
    assert.equal(typeof cls, 'function', `${className(codeName)} is exported`);
    const e = new cls('msg', codeName, i + 1, { k: 1 });
    assert.ok(e instanceof pgml.Error);
    assert.ok(e instanceof Error);
    assert.equal(e.name, className(codeName));
    assert.equal(e.code, codeName);
    assert.equal(e.status, i + 1);
    assert.deepEqual(e.details, { k: 1 });
    assert.ok(typeof e.stack === 'string' && e.stack.includes('msg'));
  });
});

test('outcomes from the server and the client', async (t) => {
  const daemon = await startDaemon();
  t.after(() => daemon.stop());
  const db = new pgml.Database(daemon.address);
  t.after(() => db.close());

  await t.test('UNIMPLEMENTED or INVALID_ARGUMENT from pgmld, with code and message', async () => {
    // An empty collection name is invalid wherever the RPC is served.
    const e = await db.createOrGetCollection('').then(() => null, (err) => err);
    assert.ok(e instanceof pgml.Error, String(e));
    assert.ok(e instanceof pgml.UnimplementedError || e instanceof pgml.InvalidArgumentError,
      `${e.name}: ${e.message}`);
    assert.ok(e.code === 'UNIMPLEMENTED' || e.code === 'INVALID_ARGUMENT');
    assert.ok(e.message.length > 0);
    assert.ok(e.details === null || typeof e.details === 'object');
  });

  await t.test('UNAVAILABLE when nothing listens, naming the address', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgml-none-'));
    const none = new pgml.Database(`unix://${dir}/none.sock`);
    const e = await none.ping().then(() => null, (err) => err);
    assert.ok(e instanceof pgml.UnavailableError, String(e));
    assert.equal(e.code, 'UNAVAILABLE');
    assert.equal(e.status, 14);
    assert.match(e.message, /none\.sock/);
    await none.close();
  });

  await t.test('close() twice is fine; a call after close() connects again', async () => {
    const d = new pgml.Database(daemon.address);
    await d.ping();
    const [a, b] = [d.close(), d.close()];
    assert.equal(a, b);
    await a;
    await d.close();
    assert.equal(d.pending, 0);
    const p = d.ping('again');
    assert.equal(d.pending, 1);
    assert.equal((await p).data.toString(), 'again');
    assert.equal(d.address, daemon.address);
    await d.close();
  });

  await t.test('RESOURCE_EXHAUSTED: a frame too large, too many calls', async () => {
    const small = new pgml.Database(daemon.address, { maxFrameSize: 256 });
    const e = await small.ping(Buffer.alloc(1024)).then(() => null, (err) => err);
    assert.ok(e instanceof pgml.ResourceExhaustedError, String(e));
    assert.match(e.message, /larger than the largest frame/);
    assert.equal((await small.ping('fits')).data.toString(), 'fits');
    await small.close();
    const few = new pgml.Database(daemon.address, { maxCalls: 2 });
    const outcomes = await Promise.allSettled([few.ping('1'), few.ping('2'), few.ping('3')]);
    assert.equal(outcomes[0].status, 'fulfilled');
    assert.equal(outcomes[1].status, 'fulfilled');
    assert.ok(outcomes[2].reason instanceof pgml.ResourceExhaustedError);
    await few.close();
  });

  await t.test('close() cancels pending calls', async () => {
    const d = new pgml.Database(daemon.address);
    const p = d.ping();
    const closed = d.close();
    await assert.rejects(p, pgml.CancelledError);
    await closed;
  });
});
