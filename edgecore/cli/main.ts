#!/usr/bin/env -S node --max-semi-space-size=2
// V8's young generation capped at 2 MB semi-spaces instead of the 16 MB it grows to: the edge's allocations are
// short-lived, so this saves ~30 MB of RSS (100 Modbus devices: heap committed 66 -> 35 MB) for ~5% more CPU.
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
