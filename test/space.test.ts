import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { archToJson, randomArch, readArchArgument, resolveArch } from '../src/space/arch.js';
import { formatBlock } from '../src/space/blocks.js';
import { networkUnits, spaceUnits } from '../src/space/network.js';
import { loadSpace, searchableLayers } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';
import { tempDir, TINY_SPACE } from './helpers.js';

test('built-in spaces have the documented macro-architectures', () => {
  const fbnet = loadSpace('fbnet');
  const layers = searchableLayers(fbnet);
  assert.equal(layers.length, 22);
  assert.ok(layers.every((l) => l.candidates.length === 9));
  assert.deepEqual(fbnet.stages.map((s) => s.c), [16, 24, 32, 64, 112, 184, 352]);
  assert.deepEqual(fbnet.stages.map((s) => s.n), [1, 4, 4, 4, 4, 4, 1]);
  assert.deepEqual(fbnet.stages.map((s) => s.s), [1, 2, 2, 2, 1, 2, 1]);
  // 224 -> stem s2 -> 112, then strides 1,2,2,2,1,2,1 -> 7x7 before the head.
  const last = layers[21]!;
  assert.deepEqual(last.inputs, [{ c: 184, h: 7, w: 7 }]);
  assert.equal(searchableLayers(loadSpace('mbv3')).length, 20);
  for (const mini of ['fbnet-mini', 'mbv3-mini']) {
    const n = searchableLayers(loadSpace(mini)).length;
    assert.ok(n >= 10 && n <= 14, `${mini} has ${n} layers`);
  }
  // MobileNetV3 layers that open a stage cannot be skipped.
  const mb = searchableLayers(loadSpace('mbv3'));
  assert.ok(mb[0]!.candidates.every((b) => b.type === 'ir'));
  assert.ok(mb[1]!.candidates.some((b) => b.type === 'skip'));
});

test('space units are deduplicated by op and input shape', () => {
  const space = loadSpace('fbnet');
  const units = spaceUnits(space);
  const keys = new Set(units.map((u) => u.key));
  assert.equal(keys.size, units.length);
  // Layers 2-4 of a stage share their input shape, so a stage of 4 contributes 2 shapes x 9 ops.
  assert.equal(units.filter((u) => u.kind === 'block').length, 9 * (1 + 5 * 2 + 1));
  assert.ok(units.some((u) => u.key === 'stem_k3_c16_s2_re|3x224x224'));
  assert.ok(units.some((u) => u.key === 'head_c1984_re_fc1000|352x7x7'));
});

test('an architecture round-trips through JSON and resolves short and full forms alike', () => {
  const space = loadSpace('fbnet-mini');
  const blocks = randomArch(space, new Rng(3));
  const json = archToJson(space, blocks);
  const dir = tempDir();
  const file = join(dir, 'arch.json');
  writeFileSync(file, JSON.stringify(json));
  const read = readArchArgument(file);
  assert.equal(read.space, 'fbnet-mini');
  assert.deepEqual(resolveArch(space, read.blocks).map(formatBlock), json.blocks);
  const short = json.blocks.map((b) => b.replace(/^ir_/, '').replace(/_c\d+_s\d.*$/, '').replace(/^skip.*/, 'skip'));
  assert.deepEqual(resolveArch(space, short).map(formatBlock), json.blocks);
  const fromList = readArchArgument(short.join(','));
  assert.deepEqual(fromList.blocks, short);
});

test('an arch that does not fit the space is refused with the layer named', () => {
  const space = loadSpace('fbnet-mini');
  const ok = searchableLayers(space).map(() => 'k3_e6');
  assert.throws(() => resolveArch(space, ok.slice(1)), /has 11 blocks but space 'fbnet-mini' has 12 searchable layers/);
  const wrongStride = [...ok];
  wrongStride[0] = 'ir_k3_e6_c16_s1';
  assert.throws(() => resolveArch(space, wrongStride), /layer 0 'ir_k3_e6_c16_s1' has stride 1 but space 'fbnet-mini' layer 0 has stride 2/);
  const wrongChannels = [...ok];
  wrongChannels[1] = 'ir_k3_e6_c32_s1';
  assert.throws(() => resolveArch(space, wrongChannels), /has 32 channels but .* has 24/);
  const notCandidate = [...ok];
  notCandidate[2] = 'k7_e6';
  assert.throws(() => resolveArch(space, notCandidate), /layer 2: unknown block 'k7_e6' for space 'fbnet-mini'; candidates:/);
});

test('a user space file loads through the same schema; bad ones name the field', () => {
  const tiny = loadSpace(TINY_SPACE);
  assert.equal(tiny.name, 'tiny');
  assert.equal(searchableLayers(tiny).length, 3);
  const units = networkUnits(tiny, resolveArch(tiny, ['k3_e1', 'skip', 'k3_e3']));
  assert.equal(units.length, 5);
  assert.equal(units[2]!.identity, true);

  const dir = tempDir();
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...JSON.parse(JSON.stringify(tiny)), stages: [{ c: 8, n: 0, s: 1, candidates: ['k3_e1'] }] }));
  assert.throws(() => loadSpace(bad), /space file '.*bad.json': field 'stages.0.n'/);
  const badCandidate = join(dir, 'bad2.json');
  writeFileSync(badCandidate, JSON.stringify({ ...JSON.parse(JSON.stringify(tiny)), stages: [{ c: 8, n: 1, s: 1, candidates: ['k4_e1'] }] }));
  assert.throws(() => loadSpace(badCandidate), /field 'stages.0.candidates.0'.*kernel must be one of/);
  assert.throws(() => loadSpace('resnet'), /unknown space 'resnet': use one of fbnet, fbnet-mini, mbv3, mbv3-mini, fbnet-mini-widths, mbv3-mini-widths/);
});
