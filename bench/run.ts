import { benchModbusReads } from './modbus-reads.js';

/** `npm run bench`: prints figures and ratios (ours vs the raw library, same run). Never pass/fail. */
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
console.log(`edgetwin bench (node ${process.version}, ${seconds}s per figure)`);
for (const line of await benchModbusReads(seconds)) console.log(`  ${line}`);
