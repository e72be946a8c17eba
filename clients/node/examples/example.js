const pgml = require('pgml');

(async () => {
  const db = new pgml.Database('unix:///run/pgmld/pgmld.sock');
  const docs = await db.createOrGetCollection('docs');
  await docs.upsertDocuments([{ id: '1', text: 'PostgreSQL is a database.' }]);
  for (const hit of await docs.vectorSearch('Which one is a database?', { topK: 1 }))
    console.log(hit.score, hit.chunk);
  await db.close();
})();
