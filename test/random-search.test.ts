import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadLut, predict } from '../src/lut/lut.js';
import { baselinePath } from '../src/search/baseline.js';
import { LatencyModel } from '../src/search/latency.js';
import { BandSampler } from '../src/search/strategies/random.js';
import { independentChain } from '../src/space/chain.js';
import { resolveArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';
import { cli, ROOT, stderrLines, tempDir } from './helpers.js';

const TABLE = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');

/** Every path of a small categorical product. */
function allPaths(sizes: number[]): number[][] {
  return sizes.reduce<number[][]>((acc, n) => acc.flatMap((p) => Array.from({ length: n }, (_, i) => [...p, i])), [[]]);
}

test('the band sampler is uniform over the archs of a hand-made space whose latency lies in [lo, hi]', () => {
  // Irregular latencies (a 0 skip, a negative fitted entry, values off any grid) over 5 layers.
  const table = [[0, 0.0131, 0.0207, 0.0313], [0.0102, 0.0119, 0.0254], [-0.0011, 0.0166, 0.0171, 0.0289], [0.0093, 0.0221, 0.0222], [0, 0.0147, 0.0301]];
  const fixedMs = 0.021;
  const hi = 0.1, lo = 0.09;
  const latencyOf = (p: number[]) => p.reduce((s, i, l) => s + table[l]![i]!, fixedMs);
  const band = allPaths(table.map((r) => r.length)).filter((p) => { const ms = latencyOf(p); return ms >= lo && ms <= hi; });
  assert.ok(band.length >= 15 && band.length <= 100, `${band.length} archs in the band`);
  const index = new Map(band.map((p, i) => [p.join(','), i]));
  const sampler = new BandSampler(independentChain(table, fixedMs), lo, hi);
  const rng = new Rng(11);
  const draws = 200 * band.length;
  const counts = new Array<number>(band.length).fill(0);
  for (let d = 0; d < draws; d++) {
    const p = sampler.draw(rng)!;
    const i = index.get(p.join(','));
    assert.ok(i !== undefined, `drew ${p.join(',')} at ${latencyOf(p)} ms, outside [${lo}, ${hi}]`);
    counts[i]!++;
  }
  // Pearson's χ² against uniform, df = K - 1; the 0.999 quantile by Wilson–Hilferty.
  const expected = draws / band.length;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  const df = band.length - 1;
  const q999 = df * (1 - 2 / (9 * df) + 3.0902 * Math.sqrt(2 / (9 * df))) ** 3;
  const maxDev = Math.max(...counts.map((c) => Math.abs(c / expected - 1)));
  console.log(`# ${band.length} archs in the band, ${draws} draws: χ² ${chi2.toFixed(1)} (df ${df}, 0.999 quantile ${q999.toFixed(1)}), `
    + `max deviation ${(100 * maxDev).toFixed(1)}% of the expected count, acceptance ${sampler.accepted}/${sampler.proposed}`);
  assert.ok(chi2 < q999, `χ² ${chi2} over ${q999}`);
  assert.ok(Math.min(...counts) > 0);
  // The same seed draws the same archs.
  const again = new BandSampler(independentChain(table, fixedMs), lo, hi);
  const r1 = new Rng(5), r2 = new Rng(5);
  for (let i = 0; i < 50; i++) assert.deepEqual(again.draw(r1), sampler.draw(r2));
  // An empty band says so.
  assert.equal(new BandSampler(independentChain(table, fixedMs), 1, 1.1).feasible, false);
});

test('on fbnet-mini at the baseline target the sampler stays in [0.9T, T] and accepts most of its draws', () => {
  const space = loadSpace('fbnet-mini');
  const lut = loadLut(TABLE, { space });
  const latency = new LatencyModel(space, lut, TABLE);
  const T = latency.pathMs(baselinePath(space));
  const sampler = new BandSampler(latency.chain, 0.9 * T, T);
  const rng = new Rng(1);
  for (let i = 0; i < 2000; i++) {
    const p = sampler.draw(rng)!;
    const ms = latency.pathMs(p);
    assert.ok(ms >= 0.9 * T && ms <= T, `${ms} ms`);
  }
  const rate = sampler.accepted / sampler.proposed;
  console.log(`# fbnet-mini, T ${T.toFixed(4)} ms: acceptance ${sampler.accepted}/${sampler.proposed} = ${(100 * rate).toFixed(1)}%`);
  assert.ok(rate > 0.5, `acceptance ${rate}`);
});

test('latnas search --strategy random scores only archs within [0.9T, T] and writes arch.json', () => {
  const out = join(tempDir(), 'random');
  const r = cli(['search', '--table', TABLE, '--dataset', 'mnist', '--backend', 'wasm', '--strategy', 'random', '--epochs', '1', '--steps-per-epoch', '2',
    '--batch', '16', '--samples', '12', '--eval-images', '64', '--calibration-batches', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /search: random drew 12 distinct archs uniformly in \[0\.\d+, 0\.\d+\] ms; acceptance .* \d+\/\d+ = [\d.]+%/);
  const read = (f: string) => JSON.parse(readFileSync(join(out, f), 'utf8'));
  const arch = read('arch.json') as { blocks: string[]; predictedMs: number; targetMs: number; strategy: string };
  assert.equal(arch.strategy, 'random');
  const space = loadSpace('fbnet-mini');
  const lut = loadLut(TABLE, { space });
  const lutMs = (blocks: string[]) => predict(lut, networkUnits(space, resolveArch(space, blocks))).totalMs;
  const visited = read('visited.json') as { blocks: string[]; latencyMs: number; source: string }[];
  assert.equal(visited.length, 12);
  for (const v of [...visited, arch]) {
    const ms = lutMs(v.blocks);
    assert.ok(ms >= 0.9 * arch.targetMs - 1e-9 && ms <= arch.targetMs + 1e-9, `${v.blocks.join(',')}: ${ms} ms, target ${arch.targetMs}`);
  }
  assert.ok(visited.some((v) => v.blocks.join(',') === arch.blocks.join(',')));
  assert.match(visited[0]!.source, /sampler acceptance \d+\/\d+/);
  // Evolution's trained supernet serves random search too (train once, compare at equal weights).
  const reuse = cli(['search', '--table', TABLE, '--dataset', 'mnist', '--backend', 'wasm', '--strategy', 'random', '--epochs', '1', '--samples', '4',
    '--eval-images', '64', '--calibration-batches', '1', '--supernet', out, '--out', join(out, '..', 'reuse')]);
  assert.equal(reuse.code, 0, reuse.stderr);
  assert.match(reuse.stderr, /supernet from .*; no supernet training/);
});

test('a target whose band [0.9T, T] holds no arch fails with one line naming the feasible range', () => {
  const r = cli(['search', '--table', TABLE, '--dataset', 'mnist', '--backend', 'wasm', '--strategy', 'random', '--target-ms', '5', '--out', join(tempDir(), 's'), '--quiet']);
  assert.equal(r.code, 1);
  assert.match(stderrLines(r.stderr).join('\n') + '\n', /^latnas: --target-ms 5\.0000: no arch of space 'fbnet-mini' has a LUT latency in \[0\.9·T, T\] = \[4\.5000, 5\.0000\] ms, .*its archs span 0\.\d+–0\.\d+ ms; choose --target-ms between 0\.\d+ and 0\.\d+\n$/);
});
