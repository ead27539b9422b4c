#!/usr/bin/env node
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
