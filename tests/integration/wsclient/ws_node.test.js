// The Node client (new Database(address, { token, caFile })) over ws:// and
// wss:// against real pgmld daemons started by wsd.py: tokens, many calls in
// flight, certificate verification.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const pkgDir = process.env.PGML_NODE_PKG;
if (!pkgDir) throw new Error('PGML_NODE_PKG is not set: run these tests through ctest');
const pgml = require(pkgDir);

let wsd, info, tmp;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pgml-wsc-node-'));
  const env = { ...process.env };
  delete env.LD_PRELOAD;   // the sanitizer runtime is for this node, not python
  wsd = spawn('python3', [path.join(__dirname, 'wsd.py'), tmp],
              { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: wsd.stdout });
    rl.once('line', resolve);
    wsd.once('exit', (code) => reject(new Error(`wsd.py exited with ${code}`)));
  });
  info = JSON.parse(line);
});

after(async () => {
  const code = await new Promise((resolve) => {
    wsd.once('exit', resolve);
    wsd.stdin.end();
  });
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.strictEqual(code, 0, 'the daemons exited cleanly');
});

async function pings(db, n) {
  const sent = [];
  for (let i = 0; i < n; i++) sent.push(Buffer.from(`node ping ${i} ${'y'.repeat(i % 40)}`));
  const got = await Promise.all(sent.map((data) => db.ping({ data })));
  got.forEach((r, i) => assert.deepStrictEqual(Buffer.from(r.data), sent[i]));
}

test('ws:// with a token: 500 calls in flight, features', async () => {
  const db = new pgml.Database(info.ws, { token: info.token });
  await pings(db, 500);
  const si = await db.serverInfo({});
  assert.ok(si.features.includes('ws'));
  await db.close();
});

test('ws:// without or with a wrong token: UNAUTHENTICATED', async () => {
  for (const opts of [undefined, { token: 'wrong-token' }]) {
    const db = new pgml.Database(info.ws, opts);
    await assert.rejects(db.ping({ data: Buffer.from('x') }),
                         (e) => e.code === 'UNAUTHENTICATED' &&
                                /missing or invalid bearer token/.test(e.message));
    await db.close();
  }
});

test('bad options throw at once', () => {
  assert.throws(() => new pgml.Database(info.ws, { token: 'has space' }), TypeError);
  assert.throws(() => new pgml.Database(info.ws, { caFile: 7 }), /caFile: expected a string/);
  assert.throws(() => new pgml.Database('gopher://x/v1'), /unknown scheme/);
});

test('wss:// with caFile', async () => {
  const db = new pgml.Database(info.wss, { token: info.token, caFile: info.ca });
  await pings(db, 500);
  assert.ok((await db.serverInfo({})).features.includes('wss'));
  await db.close();
});

test('wss:// certificate errors name the reason and the address', async () => {
  const cases = [
    [info.wss, {}, /certificate verify failed: .*system CA store/],
    [info.wss, { caFile: info.other_ca }, /certificate verify failed/],
    [info.wss_ip, { caFile: info.ca }, /certificate verify failed: IP address mismatch/],
  ];
  for (const [addr, opts, re] of cases) {
    const db = new pgml.Database(addr, { token: info.token, ...opts });
    await assert.rejects(db.ping({ data: Buffer.from('x') }),
                         (e) => e.code === 'UNAVAILABLE' && re.test(e.message) &&
                                e.message.includes(addr));
    await db.close();
  }
});
