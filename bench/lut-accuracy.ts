/**
 * bench:lut-accuracy — fresh profiles, each checked on other random networks at least `--gap`
 * seconds later, as a user would: profile now, search and export minutes later.
 *
 *   npm run bench:lut-accuracy -- [--spaces fbnet-mini,fbnet] [--device ort-cpu-1t] [--runs 5]
 *                                 [--samples 100] [--gap 300] [--results bench/results/lut-accuracy.jsonl]
 *                                 [--fit-rounds N]
 *
 * Work is scheduled greedily: a due check first, else the next profile (so one space's wait is
 * another's profile). Every finished check is one JSON record appended (fsynced) to `--results`
 * with the CPU model; a rerun continues where the file stops: runs already recorded are not
 * redone. Ends with one JSON line per space (within ±5%, MAPE, Spearman and the noise floor,
 * worst and median over the runs) and one headline line.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDevice } from '../src/device/device.js';
import { hostProvenance } from '../src/device/host.js';
import { lutCheck } from '../src/lut/check.js';
import { loadLut } from '../src/lut/lut.js';
import { profile, timingSummary } from '../src/profiler/profile.js';
import { loadSpace } from '../src/space/spaces.js';
import { quantile } from '../src/util/stats.js';

const { values } = parseArgs({
  options: {
    spaces: { type: 'string', default: 'fbnet-mini' },
    space: { type: 'string' },
    device: { type: 'string', default: 'ort-cpu-1t' },
    runs: { type: 'string', default: '1' },
    samples: { type: 'string', default: '100' },
    gap: { type: 'string', default: '0' },
    results: { type: 'string' },
    'fit-rounds': { type: 'string' },
  },
});
const spaces = (values.space ?? values.spaces!).split(',').map((s) => loadSpace(s));
const device = loadDevice(values.device!);
const runs = Number(values.runs);
const gapMs = 1000 * Number(values.gap);
const samples = Number(values.samples);
const host = hostProvenance();
const fitRounds = values['fit-rounds'] !== undefined ? Number(values['fit-rounds']) : undefined;

interface Record {
  space: string; device: string; run: number; cpu: string; cpuId?: string; date: string;
  fit_rounds?: number; profile_seconds: number; accepted_pct: number; gap_seconds: number; check_seconds: number;
  within5_pct: number; within10_pct: number; mape_pct: number; max_err_pct: number; spearman: number;
  floor_mape_pct: number; floor_within5_pct: number; floor_spearman: number; sentinel_drift_pct: number; check_accepted_pct: number;
}

const done: Record[] = values.results && existsSync(values.results)
  ? readFileSync(values.results, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record)
  : [];
const key = (space: string, run: number) => `${space}#${run}`;
const finished = new Set(done.filter((r) => r.device === device.name && r.cpuId === host.cpuId).map((r) => key(r.space, r.run)));

/** Appends one line and fsyncs it: a killed study keeps every finished record. */
function append(path: string, rec: Record): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(rec)}\n`);
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

interface Pending { space: typeof spaces[number]; run: number; lutPath: string; profiledAt: number; profileSeconds: number; fitRounds: number; acceptedPct: number }
const todo: { space: typeof spaces[number]; run: number }[] = [];
for (let run = 1; run <= runs; run++) for (const space of spaces) if (!finished.has(key(space.name, run))) todo.push({ space, run });
const work = mkdtempSync(join(tmpdir(), 'latnas-bench-'));
const pending: Pending[] = [];
const fresh: Record[] = [];
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
log(`lut-accuracy on ${host.cpu} (${host.cpuId}): ${todo.length} profile->check runs to do, ${finished.size} already in ${values.results ?? '(no results file)'}`);

try {
  while (todo.length > 0 || pending.length > 0) {
    const due = pending.findIndex((p) => Date.now() - p.profiledAt >= gapMs);
    if (due >= 0 || todo.length === 0) {
      const i = due >= 0 ? due : 0;
      const p = pending.splice(i, 1)[0]!;
      const wait = gapMs - (Date.now() - p.profiledAt);
      if (wait > 0) {
        log(`waiting ${(wait / 1000).toFixed(0)} s before checking ${p.space.name} run ${p.run}`);
        await new Promise((r) => setTimeout(r, wait));
      }
      const gap = (Date.now() - p.profiledAt) / 1000;
      const lut = loadLut(p.lutPath, { device: device.name, space: p.space });
      const c = await lutCheck({ device, space: p.space, lut, lutPath: p.lutPath, samples, seed: 1000 + p.run, quiet: true });
      const m = c.report;
      const rec: Record = {
        space: p.space.name, device: device.name, run: p.run, cpu: host.cpu, cpuId: host.cpuId, date: new Date().toISOString(),
        fit_rounds: p.fitRounds, profile_seconds: round(p.profileSeconds, 1), accepted_pct: round(p.acceptedPct, 1), gap_seconds: Math.round(gap), check_seconds: round(c.seconds, 1),
        within5_pct: m.within5Pct, within10_pct: m.within10Pct, mape_pct: round(m.mapePct), max_err_pct: round(m.maxAbsErrPct), spearman: round(m.spearman, 4),
        floor_mape_pct: round(c.floor.mapePct), floor_within5_pct: c.floor.within5Pct, floor_spearman: round(c.floor.spearman, 4),
        sentinel_drift_pct: round(c.sentinelDriftPct, 1), check_accepted_pct: round(c.acceptedPct, 1),
      };
      log(`${p.space.name} run ${p.run}: within ±5% ${rec.within5_pct}%, MAPE ${rec.mape_pct}% (floor ${rec.floor_mape_pct}%), Spearman ${rec.spearman}, ` +
        `profile ${rec.profile_seconds} s, checked ${rec.gap_seconds} s later`);
      if (values.results) append(values.results, rec);
      fresh.push(rec);
      rmSync(p.lutPath, { force: true });
    } else {
      const t = todo.shift()!;
      const lutPath = join(work, `${t.space.name}-${t.run}.json`);
      log(`profiling ${t.space.name} run ${t.run}`);
      const r = await profile({ device, space: t.space, out: lutPath, resume: false, seed: t.run, quiet: true, fitRounds });
      pending.push({ space: t.space, run: t.run, lutPath, profiledAt: Date.now(), profileSeconds: r.seconds, fitRounds: r.fitRounds, acceptedPct: timingSummary(r.lut).acceptedPct });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const all = [...done.filter((r) => r.device === device.name && r.cpuId === host.cpuId), ...fresh];
const lines = spaces.map((space) => {
  const rs = all.filter((r) => r.space === space.name);
  const col = (k: keyof Record) => rs.map((r) => r[k] as number);
  const med = (k: keyof Record) => round(quantile(col(k), 0.5), 4);
  return {
    bench: 'lut-accuracy', space: space.name, device: device.name, cpu: host.cpu, cpuId: host.cpuId, runs: rs.length, samples,
    within5_pct_min: Math.min(...col('within5_pct')), mape_pct_max: Math.max(...col('mape_pct')), spearman_min: Math.min(...col('spearman')),
    floor_mape_pct_max: Math.max(...col('floor_mape_pct')), mape_minus_floor_max: round(Math.max(...rs.map((r) => r.mape_pct - r.floor_mape_pct))),
    profile_seconds_max: Math.max(...col('profile_seconds')), gap_seconds_min: Math.min(...col('gap_seconds')),
    within5_pct_median: med('within5_pct'), mape_pct_median: med('mape_pct'), floor_mape_pct_median: med('floor_mape_pct'),
  };
});
for (const l of lines) console.log(JSON.stringify(l));
console.log(JSON.stringify({
  bench: 'lut-accuracy', device: device.name, cpu: host.cpu, cpuId: host.cpuId,
  spaces: Object.fromEntries(lines.map((l) => [l.space, {
    runs: l.runs, within5_pct_min: l.within5_pct_min, mape_pct_max: l.mape_pct_max, floor_mape_pct_max: l.floor_mape_pct_max, spearman_min: l.spearman_min,
    profile_seconds_max: l.profile_seconds_max,
  }])),
}));
