import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pathSampler, SANDWICH_RANDOM } from '../src/search/sampling.js';
import type { Supernet } from '../src/supernet/supernet.js';
import { Rng } from '../src/util/rng.js';

/** What the samplers use of a supernet: its layers' candidate counts and randomPath. */
function fakeNet(sizes: number[]): Supernet {
  const layers = sizes.map((n) => ({ candidates: Array.from({ length: n }) }));
  return { layers, randomPath: (rng: Rng) => sizes.map((n) => rng.int(n)) } as unknown as Supernet;
}

/** What the sandwich takes from the LatencyModel: the slowest and fastest paths. */
const ends = { slowest: () => ({ path: [8, 8, 3, 0] }), fastest: () => ({ path: [0, 1, 2, 0] }) };

const pathOf = (c: ReturnType<ReturnType<typeof pathSampler>['choice']>) => ('path' in c ? [...c.path] : assert.fail('not a path'));

test('fair sampling trains every candidate of a layer exactly once per group of its candidate count', () => {
  const sizes = [9, 9, 4, 1];
  const s = pathSampler(fakeNet(sizes), 'fair', ends);
  const rng = new Rng(3);
  s.beginEpoch();
  const paths = Array.from({ length: 36 }, () => pathOf(s.choice(rng)));
  sizes.forEach((m, l) => {
    for (let g = 0; g + m <= paths.length; g += m) {
      const seen = paths.slice(g, g + m).map((p) => p[l]!).sort((a, b) => a - b);
      assert.deepEqual(seen, Array.from({ length: m }, (_, i) => i), `layer ${l}, group at step ${g}`);
    }
  });
  // The permutations are drawn, not fixed: two groups of a 9-candidate layer differ.
  assert.notDeepEqual(paths.slice(0, 9).map((p) => p[0]), paths.slice(9, 18).map((p) => p[0]));
});

test('uniform sampling leaves a candidate out of some groups (what fair sampling removes)', () => {
  const s = pathSampler(fakeNet([9]), 'uniform', ends);
  const rng = new Rng(3);
  s.beginEpoch();
  const paths = Array.from({ length: 90 }, () => pathOf(s.choice(rng))[0]!);
  const unfair = Array.from({ length: 10 }, (_, g) => new Set(paths.slice(9 * g, 9 * g + 9)).size).filter((n) => n < 9).length;
  assert.ok(unfair > 0, 'every group of 9 uniform draws held all 9 candidates');
});

test('fair sampling restarts its groups each epoch: an epoch draws the same paths from the same rng, whatever came before', () => {
  const s = pathSampler(fakeNet([9, 5]), 'fair', ends);
  const epoch = (skip: number) => {
    s.beginEpoch();
    const rng = new Rng(11);
    for (let i = 0; i < skip; i++) s.choice(new Rng(99 + i));
    s.beginEpoch();
    return Array.from({ length: 20 }, () => pathOf(s.choice(rng)));
  };
  assert.deepEqual(epoch(0), epoch(4));
});

test('sandwich sampling: every step the largest and the smallest path, then fresh uniform paths', () => {
  const s = pathSampler(fakeNet([9, 9, 4, 1]), 'sandwich', ends);
  const rng = new Rng(5);
  s.beginEpoch();
  const steps = Array.from({ length: 20 }, () => {
    const c = s.choice(rng);
    return 'sandwich' in c ? c.sandwich.map((p) => [...p]) : assert.fail('not a sandwich');
  });
  for (const paths of steps) {
    assert.equal(paths.length, 2 + SANDWICH_RANDOM);
    assert.deepEqual(paths[0], ends.slowest().path);
    assert.deepEqual(paths[1], ends.fastest().path);
  }
  // The random members are drawn anew each step.
  assert.ok(new Set(steps.map((p) => p.slice(2).join('|'))).size > 15);
});
