import { benchFleet, cleanUp, fleetSettings } from './fleet.js';

/**
 * `npm run bench:fleet`: the fleet benchmark (bench/fleet.ts), minutes long, so not part of `npm run bench`.
 * FLEET_EDGES, FLEET_DEVICES, FLEET_PROPERTIES, FLEET_SECONDS, FLEET_STATUS_INTERVAL_MS… pick the sizes (see
 * fleetSettings); FLEET_LOG_DIR keeps each replica's log there. Ctrl-C stops every process it started.
 */
const settings = fleetSettings();
const cleanups: (() => Promise<unknown>)[] = [];
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.error(`fleet bench: ${signal}, stopping what it started`);
    void cleanUp(cleanups).finally(() => process.exit(130));
  });
console.log(`edgetwin fleet bench (node ${process.version}): ${JSON.stringify(settings)}`);
try {
  await benchFleet(settings, (line) => console.log(`  ${line}`), cleanups);
} catch (error) {
  console.error(`fleet bench failed: ${(error as Error).stack ?? error}`);
  process.exit(1);
}
process.exit(0);
