// helpers.js - what the Node client's tests share: the package under test,
// and a real pgmld on a socket in a temporary directory, backed by the
// ctest `postgres` fixture's cluster.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

// The package as the build lays it out (PGML_NODE_PKG, set by CMake).
const pkgDir = process.env.PGML_NODE_PKG;
if (!pkgDir) throw new Error('PGML_NODE_PKG is not set: run these tests through ctest');
const pgml = require(pkgDir);

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through ctest`);
  return v;
}

// The environment for pgmld: without the sanitizer runtime the node
// process is preloaded with (pgmld links its own).
function daemonEnv() {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  return env;
}

function waitForSocket(file, child, log) {
  return new Promise((resolve, reject) => {
    let done = false;
    const onExit = (code) => {
      if (!done) {
        done = true;
        reject(new Error(`pgmld exited (${code}) before listening:\n${fs.readFileSync(log, 'utf8')}`));
      }
    };
    child.once('exit', onExit);
    const tryConnect = () => {
      if (done) return;
      const s = net.connect(file);
      s.once('connect', () => {
        s.destroy();
        done = true;
        child.off('exit', onExit);
        resolve();
      });
      s.once('error', () => setTimeout(tryConnect, 50));
    };
    tryConnect();
  });
}

// Starts pgmld on `socket` (a new temporary directory's when not given).
// Returns { address, socket, dir, stop() }.
async function startDaemon(socket) {
  const dir = socket ? path.dirname(socket) : fs.mkdtempSync(path.join(os.tmpdir(), 'pgml-node-'));
  const sock = socket || path.join(dir, 'pgmld.sock');
  const log = path.join(dir, `pgmld-${Date.now()}.log`);
  const out = fs.openSync(log, 'a');
  const child = spawn(need('PGMLD_BIN'),
    ['--server-socket-path', sock, '--database-url', need('PGMLD_TEST_DATABASE_URL')],
    { env: daemonEnv(), stdio: ['ignore', out, out] });
  fs.closeSync(out);
  await waitForSocket(sock, child, log);
  return {
    address: `unix://${sock}`,
    socket: sock,
    dir,
    log,
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

// A Unix socket server that accepts connections and never answers: calls
// to it wait for their deadline or their cancellation.  `received` counts
// the bytes clients sent.
async function startSilent() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgml-silent-'));
  const sock = path.join(dir, 'silent.sock');
  const state = { received: 0, sockets: new Set(), waiters: [] };
  const server = net.createServer((s) => {
    state.sockets.add(s);
    s.on('data', (d) => {
      state.received += d.length;
      for (const w of state.waiters.splice(0)) w();
    });
    s.on('error', () => {});
    s.on('close', () => state.sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(sock, resolve));
  return {
    address: `unix://${sock}`,
    get received() { return state.received; },
    // Resolves when more than `n` bytes have arrived.
    moreThan(n) {
      return new Promise((resolve) => {
        const check = () => (state.received > n ? resolve() : state.waiters.push(check));
        check();
      });
    },
    close() {
      for (const s of state.sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// Calls `fn`; when the server answers UNIMPLEMENTED (an RPC the daemon does
// not serve yet) returns null, so that a test can skip what it cannot check.
async function ifImplemented(fn) {
  try {
    return { value: await fn() };
  } catch (e) {
    if (e instanceof pgml.UnimplementedError) return null;
    throw e;
  }
}

module.exports = { pgml, pkgDir, startDaemon, startSilent, ifImplemented, daemonEnv };
