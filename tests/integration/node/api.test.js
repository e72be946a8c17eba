// api.test.js - every RPC of the generated classes against a real pgmld,
// and the conversion of arguments and results.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { pgml, pkgDir, startDaemon } = require('./helpers');

const NOT_RPCS = new Set(['constructor', 'close', 'collection', 'address', 'pending', 'name', 'database']);

function rpcNames(cls) {
  return Object.getOwnPropertyNames(cls.prototype).filter((n) => !NOT_RPCS.has(n));
}

test('the Node client against pgmld', async (t) => {
  const daemon = await startDaemon();
  const db = new pgml.Database(daemon.address);
  t.after(async () => {
    await db.close();
    await daemon.stop();
  });

  await t.test('the classes come from the method table', () => {
    const dbRpcs = rpcNames(pgml.Database);
    const colRpcs = rpcNames(pgml.Collection);
    for (const m of ['ping', 'serverInfo', 'createOrGetCollection', 'listCollections',
      'collectionExists', 'archiveCollection', 'dropCollection'])
      assert.ok(dbRpcs.includes(m), `Database has ${m}`);
    for (const m of ['addPipeline', 'listPipelines', 'enablePipeline', 'disablePipeline',
      'removePipeline', 'pipelineStatus', 'upsertDocuments', 'getDocuments',
      'deleteDocuments', 'vectorSearch', 'textSearch', 'hybridSearch'])
      assert.ok(colRpcs.includes(m), `Collection has ${m}`);
    assert.equal(dbRpcs.length + colRpcs.length, 19);
  });

  await t.test('the package: ESM entry and the generated index.d.ts', async () => {
    const esm = await import(pathToFileURL(path.join(pkgDir, 'build/Release/index.mjs')).href);
    assert.equal(esm.Database, pgml.Database);
    assert.equal(esm.Collection, pgml.Collection);
    assert.equal(esm.NotFoundError, pgml.NotFoundError);
    assert.equal(esm.default, pgml);
    const dts = fs.readFileSync(path.join(pkgDir, 'build/Release/index.d.ts'), 'utf8');
    for (const cls of [pgml.Database, pgml.Collection])
      for (const m of rpcNames(cls))
        assert.match(dts, new RegExp(`\\n  ${m}\\(`), `index.d.ts declares ${cls.name}.${m}`);
  });

  await t.test('every RPC answers, with a result or a pgml.Error', async () => {
    const col = db.collection('node_every_rpc');
    const calls = [
      ...rpcNames(pgml.Database).map((m) => [m, db[m]()]),
      ...rpcNames(pgml.Collection).map((m) => [m, col[m]()]),
    ];
    for (const [name, p] of calls) assert.ok(p instanceof Promise, `${name} returns a Promise`);
    const outcomes = await Promise.allSettled(calls.map(([, p]) => p));
    for (const [i, o] of outcomes.entries()) {
      const name = calls[i][0];
      if (o.status === 'rejected') {
        const e = o.reason;
        assert.ok(e instanceof pgml.Error, `${name}: ${e}`);
        assert.equal(typeof e.code, 'string');
        assert.equal(typeof e.status, 'number');
        assert.ok(e.message.length > 0);
      }
    }
  });

  await t.test('ping echoes bytes, positionally or by name', async () => {
    const a = await db.ping(Buffer.from('hello'));
    assert.deepEqual(a, { data: Buffer.from('hello') });
    const b = await db.ping({ data: new Uint8Array([0, 1, 255]) });
    assert.deepEqual([...b.data], [0, 1, 255]);
    const c = await db.ping('text is utf-8', { timeoutMs: 5000 });
    assert.equal(c.data.toString(), 'text is utf-8');
    const d = await db.ping();
    assert.equal(d.data.length, 0);
  });

  await t.test('serverInfo: camelCase keys, js_number fields as Numbers', async () => {
    const info = await db.serverInfo();
    assert.equal(typeof info.version, 'string');
    assert.equal(typeof info.protocolVersion, 'number');
    assert.equal(typeof info.uptimeMs, 'number');
    assert.ok(Array.isArray(info.features));
    assert.ok(info.pool === null || typeof info.pool.size === 'number');
  });

  await t.test('a wrong key or type throws a TypeError naming the field', () => {
    assert.throws(() => db.ping({ datum: 1 }), { name: 'TypeError', message: /"datum"/ });
    assert.throws(() => db.ping(5), { name: 'TypeError', message: /ping: data/ });
    const col = db.collection('c');
    assert.throws(() => col.vectorSearch('q', { topK: 'one' }),
      { name: 'TypeError', message: /vectorSearch: topK/ });
    assert.throws(() => col.vectorSearch('q', { topK: -1 }),
      { name: 'RangeError', message: /topK/ });
    assert.throws(() => col.vectorSearch('q', { topK: 1.5 }),
      { name: 'RangeError', message: /topK/ });
    assert.throws(() => col.vectorSearch('q', { topK: 2 ** 32 }),
      { name: 'RangeError', message: /topK/ });
    assert.throws(() => col.vectorSearch('q', { collection: 'x' }),
      { name: 'TypeError', message: /Collection gives it/ });
    assert.throws(() => col.vectorSearch('q', { query: 'twice' }),
      { name: 'TypeError', message: /given twice/ });
    assert.throws(() => col.addPipeline('p', { splitter: { chunkSize: 'big' } }),
      { name: 'TypeError', message: /splitter\.chunkSize/ });
    assert.throws(() => col.addPipeline('p', { splitter: { chunk_size: 10 } }),
      { name: 'TypeError', message: /unknown field "chunk_size"/ });
    assert.throws(() => col.upsertDocuments([{ id: '1' }, () => 1]),
      { name: 'TypeError', message: /documents\[1\]/ });
    assert.throws(() => col.vectorSearch('q', [1, 'x']),
      { name: 'TypeError', message: /vector\[1\]/ });
    assert.throws(() => col.getDocuments({ offset: 2 ** 60 }),
      { name: 'RangeError', message: /offset/ });
    assert.throws(() => col.getDocuments({ offset: -1n }),
      { name: 'RangeError', message: /offset/ });
    assert.throws(() => db.ping(Buffer.from('x'), 'y'), { name: 'TypeError' });
    assert.throws(() => db.ping({}, { timeoutMs: -5 }), { name: 'RangeError', message: /timeoutMs/ });
    assert.throws(() => db.ping({}, { signal: 'no' }), { name: 'TypeError', message: /signal/ });
    assert.throws(() => db.ping({}, { colour: 1 }), { name: 'TypeError', message: /"colour"/ });
    assert.throws(() => new pgml.Database(42), { name: 'TypeError', message: /address/ });
    assert.throws(() => new pgml.Database('http://x'), { name: 'TypeError', message: /scheme/ });
    assert.throws(() => new pgml.Database('/x', { nope: 1 }), { name: 'TypeError', message: /"nope"/ });
    assert.throws(() => pgml.Database('/x'), { name: 'TypeError' });
    // Methods called on the wrong kind of object.
    assert.throws(() => pgml.Database.prototype.ping.call(col), { name: 'TypeError' });
    assert.throws(() => pgml.Collection.prototype.vectorSearch.call(db, 'q'), { name: 'TypeError' });
    assert.throws(() => new pgml.Collection({}, 'x'), { name: 'TypeError', message: /collection\(name\)/ });
    assert.throws(() => new pgml.Collection(col, 'x'), { name: 'TypeError' });
    assert.throws(() => Object.getOwnPropertyDescriptor(pgml.Database.prototype, 'pending').get.call(col),
      { name: 'TypeError' });
  });

  await t.test('64-bit integers: BigInt or Number in, Number out for js_number', async () => {
    const col = db.collection('node_int64');
    // Both spellings convert (a bad one would throw here, synchronously);
    // what the server answers is not the point.
    for (const offset of [5, 5n, 2 ** 53 - 1, 2n ** 64n - 1n]) {
      const p = col.getDocuments({ offset });
      await p.catch((e) => assert.ok(e instanceof pgml.Error, String(e)));
    }
    assert.throws(() => col.getDocuments({ offset: 2n ** 64n }), { name: 'RangeError' });
  });

  // The daemon's services are checked by their own tests; here a failure
  // the server reports skips the rest (the client's part is what is under
  // test), while a result of the wrong shape fails.
  await t.test('collections, documents and search (when the daemon serves them)', async (tt) => {
    try {
      await scenario();
    } catch (e) {
      if (e instanceof pgml.Error) return tt.skip(`the server answered ${e.code}: ${e.message}`);
      throw e;
    }
  });

  async function scenario() {
    await db.dropCollection('node_api_docs').catch(() => {});
    const col = await db.createOrGetCollection('node_api_docs');
    assert.ok(col instanceof pgml.Collection);
    assert.equal(col.name, 'node_api_docs');
    const up = await col.upsertDocuments([
      { id: 'a', text: 'PostgreSQL is a database.', lang: 'en', year: 2024 },
      { id: 'b', text: 'Node.js runs JavaScript.', lang: 'en', year: 2020 },
    ]);
    assert.equal(up.upserted, 2);
    const got = await col.getDocuments({ orderBy: [{ field: 'id' }] });
    assert.deepEqual(got.documents.map((d) => d.id), ['a', 'b']);
    assert.equal(got.documents[0].document.lang, 'en');
    assert.equal(typeof got.documents[0].updatedAtMs, 'number');
    const hits = await col.vectorSearch('Which one is a database?', { topK: 1 });
    assert.equal(hits.length, 1);
    assert.equal(hits[0].documentId, 'a');
    assert.equal(typeof hits[0].score, 'number');
    assert.equal(typeof hits[0].metadata, 'object');
    const filtered = await col.vectorSearch('database', { topK: 5, filter: { year: { $gt: 2022 } } });
    assert.deepEqual(filtered.map((h) => h.documentId), ['a']);
    const list = await db.listCollections();
    assert.ok(list.some((c) => c.name === 'node_api_docs'));
    assert.deepEqual(await db.collectionExists('node_api_docs'), { exists: true });
    const del = await col.deleteDocuments({ ids: ['b'] });
    assert.equal(del.deleted, 1);
    assert.equal(await db.dropCollection('node_api_docs'), undefined);
    await assert.rejects(db.archiveCollection('node_api_docs'), pgml.NotFoundError);
  }
});
