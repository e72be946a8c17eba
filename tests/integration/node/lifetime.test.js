// lifetime.test.js - worker threads, the process exiting by itself (after
// close(), and with an idle client left open), and a connection lost and
// regained.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { pgml, pkgDir, startDaemon, startSilent } = require('./helpers');

// Runs `code` in a fresh node; a process that does not exit by itself is
// killed after 60 s and fails the test (status null).
function runNode(code, env = {}) {
  return spawnSync(process.execPath, ['-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
}

test('lifetime', async (t) => {
  const daemon = await startDaemon();
  t.after(() => daemon.stop());

  await t.test('from worker threads, each with its own state', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const pgml = require(workerData.pkg);
      (async () => {
        const db = new pgml.Database(workerData.address);
        const rs = await Promise.all([1, 2, 3].map((i) => db.ping(String(i))));
        let err = null;
        try { db.ping(7); } catch (e) { err = e instanceof TypeError; }
        await db.close();
        parentPort.postMessage({ echoed: rs.map((r) => r.data.toString()), typeError: err });
      })();`;
    const runWorker = () => new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { pkg: pkgDir, address: daemon.address } });
      let msg;
      w.on('message', (m) => { msg = m; });
      w.on('error', reject);
      w.on('exit', (c) => (c === 0 ? resolve(msg) : reject(new Error(`worker exit ${c}`))));
    });
    const [a, b] = await Promise.all([runWorker(), runWorker()]);
    for (const m of [a, b]) {
      assert.deepEqual(m.echoed, ['1', '2', '3']);
      assert.equal(m.typeError, true);
    }
    // The main thread's own client still works beside them.
    const db = new pgml.Database(daemon.address);
    assert.equal((await db.ping('main')).data.toString(), 'main');
    await db.close();
  });

  await t.test('a worker terminated with calls pending tears down cleanly', async () => {
    const silent = await startSilent();
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const pgml = require(workerData.pkg);
      const db = new pgml.Database(workerData.address);
      db.ping('never answered').catch(() => {});
      setTimeout(() => parentPort.postMessage('started'), 10);`;
    const w = new Worker(code, { eval: true, workerData: { pkg: pkgDir, address: silent.address } });
    await new Promise((resolve) => w.once('message', resolve));
    await w.terminate();
    await silent.close();
  });

  await t.test('the process exits by itself after close()', () => {
    const r = runNode(`
      const pgml = require(${JSON.stringify(pkgDir)});
      (async () => {
        const db = new pgml.Database(${JSON.stringify(daemon.address)});
        await db.ping('x');
        await db.close();
        console.log('closed');
      })();`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /closed/);
  });

  await t.test('the process exits with an idle client left open', () => {
    const r = runNode(`
      const pgml = require(${JSON.stringify(pkgDir)});
      const db = new pgml.Database(${JSON.stringify(daemon.address)});
      db.ping('x').then((r) => console.log('pinged', r.data.toString()));`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /pinged x/);
  });

  await t.test('close() from a continuation of the client\'s own call', () => {
    const r = runNode(`
      const pgml = require(${JSON.stringify(pkgDir)});
      const db = new pgml.Database(${JSON.stringify(daemon.address)});
      const pending = db.ping('second');
      db.ping('first').then(() => db.close()).then(() => console.log('closed'));
      pending.then(() => console.log('second ok'), (e) => console.log('second', e.code));`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /closed/);
    assert.match(r.stdout, /second (ok|CANCELLED)/);
  });

  await t.test('the process stays alive while a call is pending', () => {
    // The pending call holds the loop: the timeout fires, the call
    // completes with DEADLINE_EXCEEDED, then the process exits.
    const r = runNode(`
      const net = require('node:net'), os = require('node:os'), path = require('node:path'), fs = require('node:fs');
      const pgml = require(${JSON.stringify(pkgDir)});
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgml-alive-'));
      const srv = net.createServer((s) => { s.unref(); s.on('data', () => {}); }).listen(path.join(dir, 's'), () => {
        srv.unref();
        const db = new pgml.Database('unix://' + path.join(dir, 's'));
        db.ping('x', { timeoutMs: 200 }).catch((e) => console.log('outcome', e.code));
      });`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /outcome DEADLINE_EXCEEDED/);
  });

  await t.test('a connection lost and regained', async () => {
    const d2 = await startDaemon();
    const db = new pgml.Database(d2.address);
    assert.equal((await db.ping('before')).data.toString(), 'before');
    await d2.stop();
    const e = await db.ping('during').then(() => null, (err) => err);
    assert.ok(e instanceof pgml.UnavailableError, String(e));
    const d3 = await startDaemon(d2.socket);
    try {
      assert.equal((await db.ping('after')).data.toString(), 'after');
    } finally {
      await db.close();
      await d3.stop();
    }
  });
});
