// build.js - `npm install` / `npm run build`: builds the addon with CMake
// from the pgmld source tree this package sits in, offline (Node-API
// headers from the Node installation, libraries from the system), and
// copies pgml.node, index.d.ts and index.mjs into build/Release.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');
const root = path.resolve(pkg, '..', '..');
const out = path.join(pkg, 'build', 'Release');
const work = path.join(pkg, 'build', 'cmake');

function fail(msg) {
  console.error(`pgml: ${msg}`);
  process.exit(1);
}

function run(cmd, args) {
  console.log(`pgml: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} failed with status ${r.status}`);
}

function has(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

if (!fs.existsSync(path.join(root, 'proto', 'pgml', 'v1', 'database.proto')) ||
    !fs.existsSync(path.join(root, 'clients', 'c', 'include', 'pgml', 'client.h'))) {
  if (fs.existsSync(path.join(out, 'pgml.node'))) process.exit(0); // prebuilt
  fail(`the pgmld source tree was not found at ${root}; install from a checkout ` +
       '(npm install ./clients/node)');
}
if (!has('cmake')) fail('cmake is needed to build the addon (scripts/bootstrap.sh installs it)');

const args = ['-S', root, '-B', work, '-DPGML_BUILD_NODE=ON', '-DBUILD_TESTING=OFF',
  '-DCMAKE_BUILD_TYPE=Release'];
if (!fs.existsSync(path.join(work, 'CMakeCache.txt')) && has('ninja')) args.push('-G', 'Ninja');
// The headers of the Node that runs this build, when it has them.
const nodeInclude = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
if (fs.existsSync(path.join(nodeInclude, 'node_api.h')))
  args.push(`-DPGML_NODE_API_INCLUDE_DIR=${nodeInclude}`);
run('cmake', args);
run('cmake', ['--build', work, '--target', 'pgml_node', '--parallel', '2']);

const built = path.join(work, 'clients', 'node', 'pkg', 'build', 'Release');
fs.mkdirSync(out, { recursive: true });
for (const f of ['pgml.node', 'index.d.ts', 'index.mjs'])
  fs.copyFileSync(path.join(built, f), path.join(out, f));
console.log(`pgml: built ${path.join(out, 'pgml.node')}`);
