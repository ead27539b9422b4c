#!/usr/bin/env -S node --max-semi-space-size=4 --single-threaded-gc
// V8's young generation capped at 4 MB semi-spaces instead of the 16 MB it grows to: the edge's allocations are
// short-lived, so this saves ~30 MB of RSS (100 Modbus devices: heap committed 66 -> 35 MB). 2 MB saved no more
// at 100 devices (94 MB both) and cost a 1,000-device edge 10-15 % more CPU: what lives a cycle was promoted.
// --single-threaded-gc: V8 collects on this thread alone, without its helper threads (parallel scavenges,
// concurrent marking and sweeping). They cost a 2-core gateway more than they saved: 1,000 Modbus devices ran at
// 0.27-0.29 cores with it and 0.27-0.32 without, 2,000 at 0.49-0.50 against 0.54-0.56 (alternating runs, README,
// Benchmarks). V8 takes it only on the command line: NODE_OPTIONS refuses it, and v8.setFlagsFromString aborts
// the process at its next collection. A service that starts `node main.js` itself should pass both flags to node
// (the semi-space one may go in NODE_OPTIONS). bench/rss.ts and bench/edge-scale.ts read this line.
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
