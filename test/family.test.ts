import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadLut, predict } from '../src/lut/lut.js';
import { baselinePath } from '../src/search/baseline.js';
import { handDesignedFamily, MBV2 } from '../src/search/family.js';
import { LatencyModel } from '../src/search/latency.js';
import { resolveArch } from '../src/space/arch.js';
import { parseBlockPartial } from '../src/space/blocks.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { ROOT } from './helpers.js';

function setup(spaceName: string) {
  const space = loadSpace(spaceName);
  const table = join(ROOT, `latency-tables/ort-cpu-1t/${spaceName}.json`);
  const lut = loadLut(table, { space });
  return { space, lut, table, latency: new LatencyModel(space, lut, table) };
}

/** The short name of a full block string: `ir_k3_e6_c16_s1` -> `k3_e6`, `skip_c24_s2` -> `skip`. */
function shortName(block: string): string {
  const b = parseBlockPartial(block);
  return b.type === 'skip' ? 'skip' : `k${b.k}_e${b.e}${(b.g ?? 1) > 1 ? `_g${b.g}` : ''}`;
}

test('fbnet-mini: the baseline and one strictly uniform arch per candidate, each at the LUT latency latnas predict gives it', () => {
  const { space, lut, table, latency } = setup('fbnet-mini');
  const family = handDesignedFamily(space, latency);
  assert.deepEqual(family.map((m) => m.name), [MBV2, 'k3_e1', 'k3_e1_g2', 'k3_e3', 'k3_e6', 'k5_e1', 'k5_e1_g2', 'k5_e3', 'k5_e6', 'skip']);
  for (const m of family) {
    assert.equal(m.blocks.length, 12);
    assert.deepEqual(m.substituted, [], m.name);
    const want = predict(lut, networkUnits(space, resolveArch(space, m.blocks)), table).totalMs;
    assert.ok(Math.abs(m.predictedMs - want) < 1e-9, `${m.name}: ${m.predictedMs} vs ${want}`);
    if (m.name !== MBV2) assert.ok(m.blocks.every((b) => shortName(b) === m.name), `${m.name}: ${m.blocks.join(',')}`);
  }
  // On fbnet-mini the baseline is the uniform k3_e6 arch.
  const mbv2 = family[0]!;
  assert.deepEqual(mbv2.path, baselinePath(space));
  assert.deepEqual(mbv2.blocks, family.find((m) => m.name === 'k3_e6')!.blocks);
  // The family spans the space: skip x 12 is the fastest, k5_e6 x 12 the slowest.
  const byMs = [...family].sort((a, b) => a.predictedMs - b.predictedMs);
  assert.equal(byMs[0]!.name, 'skip');
  assert.equal(byMs[byMs.length - 1]!.name, 'k5_e6');
});

test('mbv3-mini: layers lacking a name (no skip as a stage\'s first layer) take their closest candidate, and say so', () => {
  const { space, latency } = setup('mbv3-mini');
  const family = handDesignedFamily(space, latency);
  assert.equal(family.length, 1 + 10);
  const skip = family.find((m) => m.name === 'skip')!;
  // Four stages: each first layer keeps the lightest inverted residual.
  assert.deepEqual(skip.substituted, [0, 3, 6, 9].map((layer) => ({ layer, block: 'k3_e3' })));
  skip.blocks.forEach((b, l) => assert.equal(shortName(b), [0, 3, 6, 9].includes(l) ? 'k3_e3' : 'skip'));
  for (const m of family.filter((x) => x.name !== 'skip')) assert.deepEqual(m.substituted, [], m.name);
  assert.ok(skip.predictedMs < family.find((m) => m.name === 'k3_e3')!.predictedMs);
});
