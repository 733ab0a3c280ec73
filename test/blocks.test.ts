import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockLayers, completeBlock, formatBlock, makeDivisible, parseBlock } from '../src/space/blocks.js';
import { convsOf, countMacs, outputShape, weightsOf } from '../src/space/ir.js';

test('block strings round-trip through parse and format', () => {
  for (const s of ['ir_k5_e6_c40_s2_se0.25_hs', 'ir_k3_e1_g2_c24_s1_re', 'ir_k7_e4_c80_s1_re', 'skip_c24_s2']) {
    assert.equal(formatBlock(parseBlock(s)), s);
  }
  // Token order and defaults are normalised.
  assert.equal(formatBlock(parseBlock('ir_c40_s2_k5_e6')), 'ir_k5_e6_c40_s2_re');
  assert.equal(formatBlock(parseBlock('k3_e3_c16_s1')), 'ir_k3_e3_c16_s1_re');
});

test('short candidates take channels, stride, SE and activation from the layer', () => {
  const b = completeBlock('k5_e6', { c: 40, s: 2, se: 0.25, act: 'hs' });
  assert.equal(formatBlock(b), 'ir_k5_e6_c40_s2_se0.25_hs');
  assert.equal(formatBlock(completeBlock('skip', { c: 24, s: 2, se: 0, act: 're' })), 'skip_c24_s2');
});

test('unknown or malformed block strings are rejected with the token named', () => {
  assert.throws(() => parseBlock('ir_k9_e6_c40_s2'), /kernel must be one of/);
  assert.throws(() => parseBlock('ir_k3_x6_c40_s2'), /token 'x6'/);
  assert.throws(() => parseBlock('ir_k3_e6_c40_s3'), /stride must be 1 or 2/);
  assert.throws(() => parseBlock('ir_k3_e6'), /lacks c<channels> or s<stride>/);
  assert.throws(() => parseBlock('skip_k3_c16_s1'), /skip block takes only/);
  assert.throws(() => parseBlock('ir_k3_e6_c40_s2_seX'), /bad value/);
});

test('FBNet block: grouped 1x1 convs with a shuffle, residual only where shapes match', () => {
  const b = parseBlock('ir_k3_e3_g2_c16_s1');
  const layers = blockLayers(b, { c: 16, h: 8, w: 8 }, 'L0');
  assert.equal(layers.length, 1);
  const res = layers[0]!;
  assert.equal(res.op, 'residual');
  if (res.op !== 'residual') return;
  assert.deepEqual(res.body.map((l) => l.op), ['conv', 'shuffle', 'conv', 'conv']);
  const [pw, , dw, pwl] = res.body;
  assert.ok(pw?.op === 'conv' && pw.groups === 2 && pw.cout === 48 && pw.act === 'relu');
  assert.ok(dw?.op === 'conv' && dw.groups === 48 && dw.k === 3 && dw.act === 'relu');
  assert.ok(pwl?.op === 'conv' && pwl.groups === 2 && pwl.act === 'none');
  // Stride 2 or a channel change: no residual.
  const strided = blockLayers(parseBlock('ir_k3_e3_c16_s2'), { c: 16, h: 8, w: 8 }, 'L0');
  assert.deepEqual(strided.map((l) => l.op), ['conv', 'conv', 'conv']);
  assert.deepEqual(outputShape(strided, { c: 16, h: 8, w: 8 }), { c: 16, h: 4, w: 4 });
});

test('MobileNetV3 block: SE width is made divisible by 8', () => {
  const layers = blockLayers(parseBlock('ir_k5_e4_c40_s2_se0.25_hs'), { c: 24, h: 8, w: 8 }, 'L');
  const se = layers.find((l) => l.op === 'se');
  assert.ok(se && se.op === 'se');
  assert.equal(se.reduced, makeDivisible(24 * 4 * 0.25));
  assert.equal(makeDivisible(24), 24);
  assert.equal(makeDivisible(20), 24);
  assert.equal(makeDivisible(3), 8);
});

test('skip is identity at the same shape and a 1x1 conv where the shape changes', () => {
  assert.deepEqual(blockLayers(parseBlock('skip_c16_s1'), { c: 16, h: 8, w: 8 }, 'L'), []);
  const proj = blockLayers(parseBlock('skip_c24_s2'), { c: 16, h: 8, w: 8 }, 'L');
  assert.equal(proj.length, 1);
  assert.equal(countMacs(proj, { c: 16, h: 8, w: 8 }), 24 * 4 * 4 * 16);
});

test('a block\'s convs carry typed roles and shapes, in the order they run', () => {
  const input = { c: 16, h: 8, w: 8 };
  const convs = convsOf(blockLayers(parseBlock('ir_k5_e3_g2_c16_s1_se0.25_hs'), input, 'L'), input);
  assert.deepEqual(convs.map((c) => [c.name, c.role, c.cin, c.cout, c.k, c.groups, c.bn]), [
    ['L.pw', 'expand', 16, 48, 1, 2, true],
    ['L.dw', 'depthwise', 48, 48, 5, 48, true],
    ['L.se.reduce', 'se-reduce', 48, 16, 1, 1, false],
    ['L.se.expand', 'se-expand', 16, 48, 1, 1, false],
    ['L.pwl', 'project', 48, 16, 1, 2, true],
  ]);
  const skip = blockLayers(parseBlock('skip_c24_s2'), input, 'S');
  assert.deepEqual(weightsOf(skip, input).map((w) => w.kind === 'conv' && w.role), ['skip']);
});
