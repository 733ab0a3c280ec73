/**
 * bench:profile — time to profile a space and the spread of its entries over repeated profiles.
 *
 *   npm run bench:profile -- [--space fbnet-mini] [--device ort-cpu-1t] [--repeats 3]
 *
 * Profiles the space `repeats` times from scratch into temporary files and reports, per entry,
 * the relative spread (max-min over mean) of the standalone estimator and of the fitted
 * in-network latency, plus the spread of predicted latency of 50 random architectures.
 * Ends with one JSON line of headline figures.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDevice } from '../src/device/device.js';
import { predict, type Lut } from '../src/lut/lut.js';
import { profile } from '../src/profiler/profile.js';
import { randomArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';
import { quantile } from '../src/util/stats.js';

const { values } = parseArgs({ options: { space: { type: 'string', default: 'fbnet-mini' }, device: { type: 'string', default: 'ort-cpu-1t' }, repeats: { type: 'string', default: '3' } } });
const space = loadSpace(values.space!);
const device = loadDevice(values.device!);
const repeats = Number(values.repeats);
const dir = mkdtempSync(join(tmpdir(), 'latnas-bench-'));

const luts: Lut[] = [];
const seconds: number[] = [];
for (let i = 0; i < repeats; i++) {
  const r = await profile({ device, space, out: join(dir, `lut${i}.json`), resume: false, seed: 1 + i });
  luts.push(r.lut);
  seconds.push(r.seconds);
  console.log(`profile ${i + 1}/${repeats}: ${r.seconds.toFixed(1)} s, fit CV MAPE ${r.lut.calibration.cvMapePct.toFixed(2)}%`);
}
const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / (xs.reduce((a, b) => a + b, 0) / xs.length);
const keys = Object.keys(luts[0]!.entries);
const standalone = keys.map((k) => spread(luts.map((l) => l.entries[k]![l.estimator])));
const fitted = keys.map((k) => spread(luts.map((l) => l.entries[k]!.latencyMs)));
const rng = new Rng(99);
const nets = Array.from({ length: 50 }, () => networkUnits(space, randomArch(space, rng)));
const predicted = nets.map((units) => spread(luts.map((l) => predict(l, units).totalMs)));
const pct = (x: number) => Math.round(1000 * x) / 10;
console.log(`entries: ${keys.length}; spread over ${repeats} profiles (max-min)/mean, median [p90]:`);
console.log(`  standalone ${device.estimator}: ${pct(quantile(standalone, 0.5))}% [${pct(quantile(standalone, 0.9))}%]`);
console.log(`  fitted in-network latency: ${pct(quantile(fitted, 0.5))}% [${pct(quantile(fitted, 0.9))}%]`);
console.log(`  predicted latency of 50 random nets: ${pct(quantile(predicted, 0.5))}% [${pct(quantile(predicted, 0.9))}%]`);
console.log(JSON.stringify({
  bench: 'profile', space: space.name, device: device.name, repeats,
  profile_seconds_median: Math.round(quantile(seconds, 0.5) * 10) / 10,
  entry_spread_standalone_median_pct: pct(quantile(standalone, 0.5)),
  entry_spread_fitted_median_pct: pct(quantile(fitted, 0.5)),
  net_prediction_spread_median_pct: pct(quantile(predicted, 0.5)),
  net_prediction_spread_p90_pct: pct(quantile(predicted, 0.9)),
}));
