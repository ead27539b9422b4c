#!/usr/bin/env -S node --max-semi-space-size=4
// V8's young generation capped at 4 MB semi-spaces instead of the 16 MB it grows to: the edge's allocations are
// short-lived, so this saves ~30 MB of RSS (100 Modbus devices: heap committed 66 -> 35 MB). 2 MB saved no more
// at 100 devices (94 MB both) and cost a 1,000-device edge 10-15 % more CPU: what lives a cycle was promoted.
// A service that starts `node main.js` itself should put the flag in NODE_OPTIONS. bench/rss.ts reads this line.
import { processOutput } from './output.js';
import { createProgram } from './program.js';

const { run } = createProgram(processOutput);
run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`edgetwin: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
