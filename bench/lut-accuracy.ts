/**
 * bench:lut-accuracy — a fresh profile and a lut-check on other random networks, in one run.
 *
 *   npm run bench:lut-accuracy -- [--space fbnet-mini] [--device ort-cpu-1t] [--samples 100]
 *
 * Ends with one JSON line: the share of networks within ±5% and ±10%, MAPE, Spearman, and the
 * same for the plain sum of standalone unit times (what the fit buys).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDevice } from '../src/device/device.js';
import { lutCheck } from '../src/lut/check.js';
import { profile } from '../src/profiler/profile.js';
import { loadSpace } from '../src/space/spaces.js';

const { values } = parseArgs({ options: { space: { type: 'string', default: 'fbnet-mini' }, device: { type: 'string', default: 'ort-cpu-1t' }, samples: { type: 'string', default: '100' } } });
const space = loadSpace(values.space!);
const device = loadDevice(values.device!);
const out = join(mkdtempSync(join(tmpdir(), 'latnas-bench-')), 'lut.json');
const p = await profile({ device, space, out, resume: false });
console.log(`profiled ${space.name} on ${device.name} in ${p.seconds.toFixed(1)} s`);
const r = await lutCheck({ device, space, lut: p.lut, lutPath: out, samples: Number(values.samples), seed: 1 });
const m = r.report;
const raw = r.alternatives['standalone sum']!;
console.log(`lut-check: MAPE ${m.mapePct.toFixed(2)}%, max ${m.maxAbsErrPct.toFixed(2)}%, within ±5% ${m.within5Pct}%, Spearman ${m.spearman.toFixed(4)} (${r.seconds.toFixed(0)} s)`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
console.log(JSON.stringify({
  bench: 'lut-accuracy', space: space.name, device: device.name, samples: r.samples,
  profile_seconds: round(p.seconds, 1), within5_pct: m.within5Pct, within10_pct: m.within10Pct, mape_pct: round(m.mapePct),
  max_err_pct: round(m.maxAbsErrPct), spearman: round(m.spearman, 4), kendall: round(m.kendall, 4),
  standalone_sum_within5_pct: raw.within5Pct, standalone_sum_mape_pct: round(raw.mapePct),
}));
