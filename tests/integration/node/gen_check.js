// gen_check.js - the Node half of tests/integration/gen: after RPCs were
// added to a scratch copy of the .proto and the project rebuilt from it, the
// addon built there has them, with no JavaScript or C written for them.
//
//   node gen_check.js PKG_DIR SOCKET
//
// PKG_DIR is <scratch build>/clients/node/pkg (target pgml_node, with
// -DPGML_BUILD_NODE=ON and no sanitizer); SOCKET is the scratch pgmld's.
// The added RPCs are those of tests/integration/gen/test_new_rpc.py: Echo on
// Database and EchoInCollection on Collection.  Exits non-zero, saying what
// is missing, when a check fails.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

// The text between `from` and the next `until` (or the end), to tell which
// class of index.d.ts a declaration is in.
function section(text, from, until) {
  const start = text.indexOf(from);
  assert.ok(start >= 0, `index.d.ts lacks ${JSON.stringify(from)}`);
  const end = until === null ? -1 : text.indexOf(until, start + from.length);
  return text.slice(start, end < 0 ? text.length : end);
}

function checkClasses(pgml) {
  const { Database, Collection } = pgml;
  assert.equal(typeof Database, 'function', 'the package has no Database class');
  assert.equal(typeof Collection, 'function', 'the package has no Collection class');
  assert.equal(typeof Database.prototype.echo, 'function', 'Database.prototype.echo is missing');
  assert.equal(typeof Collection.prototype.echoInCollection, 'function',
    'Collection.prototype.echoInCollection is missing');
  assert.ok(!('echoInCollection' in Database.prototype),
    'echoInCollection is on Database, not on the bound class');
  assert.ok(!('echo' in Collection.prototype), 'echo is on Collection, not on Database');
  assert.equal(typeof pgml.UnimplementedError, 'function', 'no UnimplementedError class');
  assert.ok(pgml.UnimplementedError.prototype instanceof pgml.Error,
    'UnimplementedError does not extend pgml.Error');
}

function checkDts(pkgDir) {
  const file = path.join(pkgDir, 'build', 'Release', 'index.d.ts');
  assert.ok(fs.existsSync(file), `${file} is not in the package`);
  const dts = fs.readFileSync(file, 'utf8');
  const db = section(dts, '\nexport class Database {', '\n}\n');
  const col = section(dts, '\nexport class Collection {', '\n}\n');
  // The .proto comment is the JSDoc, right above the declaration.
  assert.match(db, /\/\*\* Echoes `text` back, repeat_count times\.[^]*?\*\/\n  echo\(request\?: EchoRequestInit, options\?: CallOptions\): Promise<EchoResponse>;/,
    'Database in index.d.ts lacks echo() with its doc comment');
  assert.match(col, /\/\*\* Echoes `text` within a collection\.[^]*?\*\/\n  echoInCollection\(request\?: Omit<EchoInCollectionRequestInit, "collection">, options\?: CallOptions\): Promise<EchoResponse>;/,
    'Collection in index.d.ts lacks echoInCollection() with its doc comment');
  assert.ok(!db.includes('echoInCollection('), 'index.d.ts declares echoInCollection on Database');
  const init = section(dts, 'export interface EchoRequestInit {', '\n}\n');
  for (const f of ['text?: string;', 'repeatCount?: number;', 'bigCount?: bigint | number;'])
    assert.ok(init.includes(f), `EchoRequestInit lacks ${f}`);
  assert.ok(dts.includes('readonly echoedAtMs: number;'), 'EchoResponse lacks echoedAtMs: number');
}

// A call that must be refused before anything is sent; a TypeError thrown
// or a rejection, either is accepted.
async function refused(fn, re, what) {
  await assert.rejects(async () => fn(), (e) => {
    assert.ok(e instanceof TypeError, `${what}: ${e}`);
    assert.match(e.message, re, what);
    return true;
  });
}

// Awaits a call that must reject with pgml.UnimplementedError naming `wire`.
async function unimplemented(pgml, promise, wire, what) {
  let answer;
  try {
    answer = await promise;
  } catch (e) {
    if (!(e instanceof pgml.UnimplementedError))
      throw new assert.AssertionError({ message: `${what} rejected with ${e}, not an UnimplementedError` });
    assert.ok(e instanceof pgml.Error, `${what}: UnimplementedError is not a pgml.Error`);
    assert.equal(e.code, 'UNIMPLEMENTED', `${what}: code`);
    assert.ok(e.message.includes(wire), `${what}: the message does not name ${wire}: ${e.message}`);
    console.log(`${what}: UNIMPLEMENTED ${e.message}`);
    return;
  }
  throw new assert.AssertionError({ message: `${what} answered ${JSON.stringify(answer)}, not UNIMPLEMENTED` });
}

async function checkCalls(pgml, socket) {
  const db = new pgml.Database(`unix://${socket}`);
  try {
    const pong = await db.ping({ data: Buffer.from('x') });
    assert.equal(Buffer.from(pong.data).toString(), 'x', 'ping');

    // The arguments are the request's fields, in Node's spelling, without
    // the bound one: the message listing them comes from the table.
    await refused(() => db.echo({ nope: 1 }), /unknown argument "nope" \(it takes text, repeatCount, bigCount\b/,
      'echo({nope})');
    await refused(() => db.echo({ text: 1 }), /^echo: text: expected a string/, 'echo({text: 1})');
    const col = db.collection('gen_check');
    await refused(() => col.echoInCollection({ collection: 'x' }), /"collection" is not an argument/,
      'echoInCollection({collection})');
    await refused(() => col.echoInCollection({ nope: 1 }), /it takes text, labels\b/,
      'echoInCollection({nope})');

    // By name and by position; the (json) argument as a native object.
    await unimplemented(pgml, db.echo({ text: 'hi', repeatCount: 2, bigCount: 2n ** 40n }),
      'pgml.v1.Database/Echo', 'db.echo({...})');
    await unimplemented(pgml, db.echo('hi', 2, 2n ** 40n), 'pgml.v1.Database/Echo', 'db.echo(...)');
    await unimplemented(pgml, col.echoInCollection({ text: 'hi', labels: { a: [1, 'b'] } }),
      'pgml.v1.Database/EchoInCollection', 'collection.echoInCollection({...})');
    // The connection is still good after both.
    assert.equal(Buffer.from((await db.ping({ data: Buffer.from('y') })).data).toString(), 'y');
  } finally {
    await db.close();
  }
}

async function main() {
  const [pkgArg, socket] = process.argv.slice(2);
  if (!pkgArg || !socket) {
    console.error('usage: node gen_check.js PACKAGE_DIR SOCKET');
    process.exit(2);
  }
  const pkgDir = path.resolve(pkgArg);
  const pgml = require(pkgDir);
  const addon = Object.keys(require.cache).find((f) => f.endsWith('pgml.node'));
  assert.ok(addon && addon.startsWith(pkgDir + path.sep), `loaded the addon from ${addon}`);

  checkClasses(pgml);
  checkDts(pkgDir);
  await checkCalls(pgml, socket);
  console.log('node: the added RPCs are methods of the addon and answer UNIMPLEMENTED');
}

main().catch((e) => {
  console.error(`FAIL: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
