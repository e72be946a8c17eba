// example.test.js - the README's program (clients/node/examples/example.js)
// runs as written, with require('pgml') resolving to the built package; only
// the socket address is changed to the test daemon's.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { pgml, pkgDir, startDaemon } = require('./helpers');

const example = path.join(process.env.PGMLD_SOURCE_DIR, 'clients/node/examples/example.js');

test('the example program', async (t) => {
  const daemon = await startDaemon();
  t.after(() => daemon.stop());
  // The example needs the collection, document and search RPCs: skipped
  // while the daemon does not serve them (its own tests cover that).
  const probe = new pgml.Database(daemon.address);
  try {
    const c = await probe.createOrGetCollection('node_example_probe');
    await c.upsertDocuments([{ id: '1', text: 'probe' }]);
    await c.vectorSearch('probe', { topK: 1 });
    await probe.dropCollection('node_example_probe');
  } catch (e) {
    if (e instanceof pgml.Error)
      return t.skip(`the daemon cannot run the example yet: ${e.code}: ${e.message}`);
    throw e;
  } finally {
    await probe.close();
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgml-example-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(pkgDir, path.join(dir, 'node_modules', 'pgml'));
  const src = fs.readFileSync(example, 'utf8');
  assert.ok(src.includes("'unix:///run/pgmld/pgmld.sock'"));
  fs.writeFileSync(path.join(dir, 'example.js'),
    src.replace("'unix:///run/pgmld/pgmld.sock'", JSON.stringify(daemon.address)));
  const r = spawnSync(process.execPath, [path.join(dir, 'example.js')],
    { cwd: dir, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^-?[0-9.e-]+ PostgreSQL is a database\.\n$/);
});
