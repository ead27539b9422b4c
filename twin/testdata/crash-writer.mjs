// Child process of twin/crash.integration.test.ts, run by plain node against the build (dist/):
//   node crash-writer.mjs <db file> <first seq>
// Writes twin updates without end, keeping a few hundred in flight, and prints the seq of each update
// whose write() promise resolved ("acknowledged"), one per line, until the parent kills it.
// Update `seq` goes to device `default/d{seq % 4}`: properties `a` and `b` both set to `seq` (one write),
// and a cloud-bound sync record of `a` with the same value.
import { TwinStore } from '../../dist/twin/store.js';

const [file, first] = process.argv.slice(2);
const DEVICES = Array.from({ length: 4 }, (_, d) => `default/d${d}`);
const PER_TICK = 200;

const store = TwinStore.open(file);
for (const id of DEVICES) store.upsertDevice({ id });

let seq = Number(first);
function pump() {
  for (let i = 0; i < PER_TICK; i++) {
    const s = seq++;
    const twin = {
      actual: { value: String(s), metadata: { timestamp: Date.now() } },
      metadata: { type: 'int' },
    };
    store.write(DEVICES[s % DEVICES.length], { a: twin, b: twin }, { a: twin }).then(
      () => process.stdout.write(`${s}\n`),
      (error) => {
        process.stderr.write(`write ${s} failed: ${error?.stack ?? error}\n`);
        process.exit(1);
      },
    );
  }
  setImmediate(pump);
}
pump();
