// list_methods.js - prints, as JSON, the RPC methods the built Node client
// has on each class: {"Database": ["ping", ...], "Collection": [...]}.
// For the generation test (tests/integration/gen), which adds an RPC to the
// .proto and checks that it reaches every client:
//   node list_methods.js <build>/clients/node/pkg
'use strict';

const path = require('node:path');

const pkgDir = process.argv[2];
if (!pkgDir) {
  console.error('usage: node list_methods.js PACKAGE_DIR');
  process.exit(2);
}
const pgml = require(path.resolve(pkgDir));
const NOT_RPCS = new Set(['constructor', 'close', 'address', 'pending', 'name', 'database']);
const out = {};
for (const [name, value] of Object.entries(pgml)) {
  if (typeof value !== 'function' || value.prototype instanceof Error || value === pgml.Error)
    continue;
  out[name] = Object.getOwnPropertyNames(value.prototype)
    .filter((m) => !NOT_RPCS.has(m) && typeof value.prototype[m] === 'function');
}
console.log(JSON.stringify(out));
