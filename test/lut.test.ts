import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDevice } from '../src/device/device.js';
import { lutCheck, noiseVerdict } from '../src/lut/check.js';
import { loadLut, predict, type Lut } from '../src/lut/lut.js';
import { profile } from '../src/profiler/profile.js';
import { resolveArch } from '../src/space/arch.js';
import { networkUnits, spaceUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { tempDir, TINY_SPACE } from './helpers.js';

const device = loadDevice('ort-cpu-1t');
const space = loadSpace(TINY_SPACE);
const plan = { rounds: 2, runsPerRound: 2, warmup: 1 };
const measuredUnits = spaceUnits(space).filter((u) => !u.identity);

async function profileTiny(out: string, extra: { resume?: boolean; maxChunks?: number; force?: boolean } = {}) {
  return profile({ device, space, out, resume: extra.resume ?? false, force: extra.force, chunk: 4, fitNets: 12, quiet: true, plan, maxChunks: extra.maxChunks });
}

test('profile writes a complete, valid LUT with provenance that round-trips', async () => {
  const out = join(tempDir(), 'tiny.json');
  const r = await profileTiny(out);
  assert.equal(r.measured, measuredUnits.length);
  const lut = loadLut(out, { device: 'ort-cpu-1t', space });
  assert.equal(lut.complete, true);
  assert.deepEqual(Object.keys(lut.entries).sort(), measuredUnits.map((u) => u.key).sort());
  assert.equal(lut.calibration.nets.length, 12);
  assert.equal(lut.provenance.runtime, 'onnxruntime-node');
  assert.match(lut.provenance.runtimeVersion, /^\d+\.\d+\.\d+/);
  assert.equal(lut.provenance.threads, 1);
  assert.ok(lut.provenance.cpu.length > 0);
  for (const e of Object.values(lut.entries)) {
    assert.equal(e.samples, plan.rounds * plan.runsPerRound);
    assert.ok(e.p10 <= e.p25 && e.p25 <= e.median && e.median <= e.p90);
    assert.ok(Math.abs(e[lut.estimator] - e.calibrationMs - e.latencyMs) < 1e-9, 'calibrationMs is what was subtracted');
  }
  // Timed through the sentinel gate: network times normalised to one sentinel state.
  assert.ok(lut.timing.anchorMs! > 0);
  assert.ok(lut.timing.chunks.length > 0 && lut.timing.chunks.every((c) => c.accepted <= c.visits && c.sentinelQuietMs > 0));
  assert.deepEqual([...new Set(lut.timing.chunks.map((c) => c.kind))], ['units', 'networks']);
  // JSON round-trip is lossless.
  const again = JSON.parse(JSON.stringify(lut)) as Lut;
  assert.deepEqual(again, lut);
});

test('lut-check times every net in two passes and scores the table against their noise floor', async () => {
  const out = join(tempDir(), 'tiny.json');
  await profileTiny(out);
  const lut = loadLut(out, { space });
  const r = await lutCheck({ device, space, lut, lutPath: out, samples: 6, seed: 3, quiet: true, rounds: 3, runsPerRound: 2 });
  assert.equal(r.nets.length, 6);
  for (const n of r.nets) {
    const [a, b] = n.passMs;
    assert.ok(a > 0 && b > 0, `passes ${a} ${b}`);
    assert.ok(n.measuredMs > 0.5 * Math.min(a, b) && n.measuredMs < 2 * Math.max(a, b), `pooled ${n.measuredMs} vs passes ${a}, ${b}`);
    assert.ok(Math.abs(n.errPct - (100 * (n.predictedMs - n.measuredMs)) / n.measuredMs) < 1e-9, 'the error is against both passes pooled');
  }
  // The floor is the first pass scored against the second.
  const floor = r.nets.reduce((s, n) => s + Math.abs(n.passMs[0] - n.passMs[1]) / n.passMs[1], 0) / r.nets.length;
  assert.ok(Math.abs(r.floor.mapePct - 100 * floor) < 1e-9, `floor ${r.floor.mapePct} vs ${100 * floor}`);
  assert.ok(r.acceptedPct > 0 && r.acceptedPct <= 100);
  assert.ok(Number.isFinite(r.sentinelDriftPct));
  assert.match(noiseVerdict(1.5, 1.0), /at the machine's noise floor/);
  assert.match(noiseVerdict(4.0, 1.0), /3\.00 points above the noise floor/);
  assert.match(noiseVerdict(Number.NaN, 1.0), /not finite/);
});

test('predict sums the arch units and the per-network overhead; identity skips cost 0', async () => {
  const out = join(tempDir(), 'tiny.json');
  await profileTiny(out);
  const lut = loadLut(out, { space });
  const units = networkUnits(space, resolveArch(space, ['k3_e1', 'skip', 'k5_e3_se0.25_hs']));
  const p = predict(lut, units, out);
  const expect = units.filter((u) => !u.identity).reduce((s, u) => s + lut.entries[u.key]!.latencyMs, lut.calibration.overheadMs);
  assert.ok(Math.abs(p.totalMs - expect) < 1e-12);
  assert.equal(p.units[2]!.latencyMs, 0);
  assert.ok(p.totalMs > 0);
});

test('an interrupted profile resumes without re-measuring what was written', async () => {
  const out = join(tempDir(), 'tiny.json');
  const first = await profileTiny(out, { maxChunks: 1 });
  assert.equal(first.measured, 4);
  const partial = JSON.parse(readFileSync(out, 'utf8')) as Lut;
  assert.equal(partial.complete, false);
  assert.throws(() => loadLut(out, { space }), /is incomplete .* --resume/);
  // Without --resume an existing table is not overwritten.
  await assert.rejects(profileTiny(out), /holds an unfinished profile \(4 entries so far\); pass --resume to finish it, or --force/);
  const second = await profileTiny(out, { resume: true, maxChunks: 2 });
  assert.equal(second.skipped, 4);
  const mid = JSON.parse(readFileSync(out, 'utf8')) as Lut;
  assert.equal(mid.calibration.nets.length, 4);
  const third = await profileTiny(out, { resume: true });
  assert.equal(third.measured, 0);
  const done = loadLut(out, { space });
  for (const [key, e] of Object.entries(partial.entries)) {
    const now = done.entries[key]!;
    assert.deepEqual([now.median, now.p10, now.p90, now.samples], [e.median, e.p10, e.p90, e.samples], `${key} was re-measured`);
  }
  assert.deepEqual(done.calibration.nets.slice(0, 4), mid.calibration.nets, 'fit networks were re-measured');
  assert.equal(done.calibration.nets.length, 12);
});

test('bad tables are refused with the file, the field and the fix', async () => {
  const dir = tempDir();
  const out = join(dir, 'tiny.json');
  await profileTiny(out);
  const text = readFileSync(out, 'utf8');

  const truncated = join(dir, 'truncated.json');
  writeFileSync(truncated, text.slice(0, text.length / 2));
  assert.throws(() => loadLut(truncated, { space }), /LUT file '.*truncated.json' is not valid JSON .*re-create it/);

  const corrupt = join(dir, 'corrupt.json');
  const c = JSON.parse(text);
  c.entries[Object.keys(c.entries)[0]!].median = 'fast';
  writeFileSync(corrupt, JSON.stringify(c));
  assert.throws(() => loadLut(corrupt, { space }), /LUT file '.*corrupt.json' is corrupt: field 'entries\..*\.median'.*latnas profile/);

  const future = join(dir, 'future.json');
  writeFileSync(future, JSON.stringify({ ...JSON.parse(text), schemaVersion: 99 }));
  assert.throws(() => loadLut(future, { space }), /field 'schemaVersion' is 99 but this latnas reads 2/);

  assert.throws(() => loadLut(out, { device: 'ort-wasm', space }), /was made for device 'ort-cpu-1t', not 'ort-wasm'/);
  assert.throws(() => loadLut(out, { space: loadSpace('fbnet-mini') }), /is for space 'tiny', not 'fbnet-mini'/);
  const changed = { ...space, head: { ...space.head, c: 40 } };
  assert.throws(() => loadLut(out, { space: changed }), /profiled for another definition of space 'tiny'/);

  const missing = join(dir, 'missing.json');
  const m = JSON.parse(text);
  const key = 'ir_k5_e3_c16_s2_se0.25_hs|8x8x8';
  assert.ok(m.entries[key]);
  delete m.entries[key];
  writeFileSync(missing, JSON.stringify(m));
  const lut = loadLut(missing, { space });
  const units = networkUnits(space, resolveArch(space, ['k3_e1', 'k3_e1', 'k5_e3_se0.25_hs']));
  const entry = key.replace(/[|.]/g, '\\$&');
  assert.throws(() => predict(lut, units, missing), new RegExp(`has no entry '${entry}'; profile it with \`latnas profile --device ort-cpu-1t --space tiny --out .*missing.json --resume\``));
});
