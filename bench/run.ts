import { benchBundle } from './bundle.js';
import { benchEdgeScale } from './edge-scale.js';
import { benchKubePatch } from './kube-patch.js';
import { benchModbusLine } from './modbus-line.js';
import { benchModbusReads } from './modbus-reads.js';
import { benchOpcua } from './opcua-reads.js';
import { benchRss } from './rss.js';
import { benchRuntimeCalls } from './runtime-calls.js';
import { benchTwinHistory } from './twin-history.js';
import { benchTwinUpdates } from './twin-updates.js';

/** `npm run bench`: prints figures and ratios (ours vs the raw library or broker, same run). Never pass/fail. */
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
console.log(`edgetwin bench (node ${process.version}, ${seconds}s per figure)`);
for (const line of await benchModbusReads(seconds)) console.log(`  ${line}`);
for (const line of await benchModbusLine(seconds)) console.log(`  ${line}`);
for (const line of await benchRuntimeCalls()) console.log(`  ${line}`);
for (const line of await benchTwinUpdates()) console.log(`  ${line}`);
for (const line of await benchTwinHistory(seconds)) console.log(`  ${line}`);
for (const line of await benchOpcua(seconds)) console.log(`  ${line}`);
for (const line of await benchKubePatch()) console.log(`  ${line}`);
for (const line of await benchEdgeScale()) console.log(`  ${line}`);
for (const line of await benchRss()) console.log(`  ${line}`);
for (const line of await benchBundle()) console.log(`  ${line}`);
process.exit(0);
