// Opens a twin store with cacheBytes argv[3] on file argv[2], writes ~12 MB of distinct twin rows (200 devices ×
// 100 twins × a 500-character value), reads them all back, and prints how much malloc's heap ([heap] in smaps)
// grew, in bytes. Run against dist/ by store-cache.integration.test.ts.
import { mallocHeap } from '../../dist/bench/rss.js';
import { TwinStore } from '../../dist/twin/store.js';

const [file, cacheBytes] = process.argv.slice(2);
const heap = () => mallocHeap('self');
const store = TwinStore.open(file, {
  writeBehindMs: 0,
  cacheBytes: Number(cacheBytes),
  history: { maxPoints: 0 },
});
const before = heap();
const value = 'x'.repeat(500);
for (let d = 0; d < 200; d++) {
  const id = `default/d${d}`;
  store.upsertDevice({ id });
  const twins = {};
  for (let t = 0; t < 100; t++) twins[`p${t}`] = { actual: { value }, metadata: { type: 'string' } };
  await store.write(id, twins);
}
for (let d = 0; d < 200; d++) store.twins(`default/d${d}`);
console.log(heap() - before);
store.close();
