// Unary Ping from Node: the pgml addon against pgmld, or @grpc/grpc-js against the C++ gRPC server.
'use strict';
const path = require('path');
const { report, closedLoop, parseArgs } = require('./stats');

const args = parseArgs(process.argv.slice(2));
const side = args.side;                       // pgml | grpc
const concs = (args.conc || '1,64').split(',').map(Number);
const secs = Number(args.secs || 1), warm = Number(args.warm || 0.2);
const data = Buffer.from('pgmld-bench!');

async function main() {
  let once, close;
  if (side === 'pgml') {
    const pgml = require(args.addon || path.resolve(__dirname, '../../clients/node'));
    const db = new pgml.Database(args.addr);
    once = () => db.ping(data);
    close = () => db.close();
  } else if (side === 'grpc') {
    const grpc = require('@grpc/grpc-js');
    const loader = require('@grpc/proto-loader');
    const def = loader.loadSync(path.resolve(__dirname, '../grpc/ping.proto'));
    const proto = grpc.loadPackageDefinition(def);
    const client = new proto.pgml.v1.Database('unix:' + args.addr, grpc.credentials.createInsecure());
    once = () => new Promise((resolve, reject) =>
      client.Ping({ data }, (err, resp) => (err ? reject(err) : resolve(resp))));
    close = () => client.close();
  } else {
    throw new Error(`--side must be pgml or grpc, not ${side}`);
  }
  for (const c of concs) {
    const lat = await closedLoop(c, warm, secs, once);
    report('node-' + side, c, lat, secs);
  }
  await close();
}

main().catch((e) => { console.error(`ping.js (${side}): ${e.stack || e}`); process.exit(1); });
