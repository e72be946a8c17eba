// Top-10 vector search from Node: the pgml addon through pgmld, or node-postgres straight to PostgreSQL.
'use strict';
const fs = require('fs');
const path = require('path');
const { report, closedLoop, parseArgs } = require('./stats');

const args = parseArgs(process.argv.slice(2));
const side = args.side;                       // pgml | pg
const concs = (args.conc || '1,32,512').split(',').map(Number);
const secs = Number(args.secs || 1), warm = Number(args.warm || 0.3);
const spec = JSON.parse(fs.readFileSync(args.spec, 'utf8'));
const queries = spec.queries.map((q) => Float32Array.from(q));
const qtext = spec.queries.map((q) => '[' + q.join(',') + ']');
let next = 0;

async function main() {
  for (const conc of concs) {
    let once, close;
    if (side === 'pgml') {
      const pgml = require(args.addon || path.resolve(__dirname, '../../clients/node'));
      const db = new pgml.Database(args.addr);
      const col = db.collection(spec.collection);
      once = async () => {
        const i = next++ % queries.length;
        const r = await col.vectorSearch({ vector: queries[i], topK: 10 });
        if (r.length !== 10) throw new Error(`pgml: ${r.length} results, expected 10`);
      };
      close = () => db.close();
    } else if (side === 'pg') {
      const { Pool } = require('pg');
      // One connection per concurrent request, opened before measuring.
      const pool = new Pool({ host: args.pghost, database: 'pgmld', user: 'pgmld', max: conc,
        options: '-c hnsw.ef_search=' + spec.ef_search + ' -c hnsw.iterative_scan=relaxed_order' });
      const held = await Promise.all(Array.from({ length: conc }, () => pool.connect()));
      held.forEach((c) => c.release());
      once = async () => {
        const i = next++ % qtext.length;
        // A named query is prepared once per connection, like pgbench -M prepared.
        const r = await pool.query({ name: 'search', text: spec.sql, values: [qtext[i], spec.text_field] });
        if (r.rows.length !== 10) throw new Error(`pg: ${r.rows.length} rows, expected 10`);
      };
      close = () => pool.end();
    } else {
      throw new Error(`--side must be pgml or pg, not ${side}`);
    }
    const lat = await closedLoop(conc, warm, secs, once);
    report('node-' + side, conc, lat, secs);
    await close();
  }
}

main().catch((e) => { console.error(`search.js (${side}): ${e.stack || e}`); process.exit(1); });
