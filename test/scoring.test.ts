import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadLut } from '../src/lut/lut.js';
import { openSupernet } from '../src/search/scoring.js';
import { search, SEARCH_DEFAULTS, type SearchOptions } from '../src/search/search.js';
import { resolveArch } from '../src/space/arch.js';
import { pathOf } from '../src/space/path.js';
import { loadSpace } from '../src/space/spaces.js';
import { initBackend } from '../src/train/backend.js';
import { ROOT, tempDir } from './helpers.js';
import { tinyDigits } from './tiny-idx.js';

const TABLE = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');

test('two searches in one process (the second reusing the first\'s supernet), and a finished search\'s supernet scores archs as the search did', async () => {
  const backend = await initBackend('wasm');
  const space = loadSpace('fbnet-mini');
  const lut = loadLut(TABLE, { space });
  const dataset = tinyDigits(320, 32);
  const dir = tempDir();
  const base: SearchOptions = {
    ...SEARCH_DEFAULTS, space, lut, lutPath: TABLE, dataset, strategy: 'random', target: 'baseline', out: join(dir, 'a'), resume: false, quiet: true,
    backend: backend.name, epochs: 1, batch: 16, stepsPerEpoch: 2, evalImages: 32, calibrationBatches: 1, random: { samples: 3 },
  };
  const evolution = { population: 4, cycles: 2, sampleSize: 2 };
  const a = await search(base);
  const b = await search({ ...base, strategy: 'evolution', out: join(dir, 'b'), supernetFrom: join(dir, 'a'), evolution });
  // The process's third supernet trains and saves; a fourth reuses it. Numbered by count, it was supernet2/ and the fourth
  // supernet3/, whose --supernet found none of its variables (nor did a resumed run, in a process of its own: supernet0/).
  await search({ ...base, out: join(dir, 'c'), seed: 2 });
  await search({ ...base, strategy: 'evolution', out: join(dir, 'd'), supernetFrom: join(dir, 'c'), evolution });

  const scorer = openSupernet(join(dir, 'a'), { space, dataset, calibrationBatches: 1, evalImages: 32 });
  try {
    const visited = JSON.parse(readFileSync(join(dir, 'a', 'visited.json'), 'utf8')) as { path: number[]; acc: number }[];
    assert.equal(visited.length, 3);
    for (const v of visited) assert.equal(scorer.accuracy(v.path), v.acc);
    assert.equal(scorer.accuracy(pathOf(space, resolveArch(space, a.blocks))), a.valAcc);
    // b scored with a's weights on the same splits: its chosen arch gets the same score from a's supernet.
    assert.equal(scorer.accuracy(pathOf(space, resolveArch(space, b.blocks))), b.valAcc);
  } finally {
    scorer.dispose();
  }
  assert.throws(() => openSupernet(join(dir, 'a'), { space, dataset: { ...dataset, spec: 'other' }, calibrationBatches: 1, evalImages: 32 }), /trained on --dataset mnist-tiny, not other/);
});
