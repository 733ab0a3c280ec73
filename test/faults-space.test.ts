/**
 * Space and block files with values outside what they mean: each is refused with one line that
 * names the file, the field and the fix (never a RangeError, never an 864 MB model), and every
 * built-in space still loads.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LatnasError } from '../src/errors.js';
import { parseBlock } from '../src/space/blocks.js';
import { BUILTIN_SPACES, loadSpace, searchableLayers } from '../src/space/spaces.js';
import { cli, tempDir, TINY_SPACE } from './helpers.js';

const dir = tempDir();
const tiny = () => JSON.parse(readFileSync(TINY_SPACE, 'utf8')) as {
  input: { c: number; h: number; w: number }; classes: number; stem: { c: number; k: number; s: number };
  stages: { c: number; n: number; s: number; candidates: string[] }[]; head: { c: number };
};
let n = 0;

/** Writes a variant of the tiny space and asserts loadSpace refuses it with a one-line LatnasError matching `pattern`. */
function refused(edit: (s: ReturnType<typeof tiny>) => void, pattern: RegExp): void {
  const s = tiny();
  edit(s);
  const path = join(dir, `space-${n++}.json`);
  writeFileSync(path, JSON.stringify(s));
  assert.throws(() => loadSpace(path), (e: unknown) => {
    assert.ok(e instanceof LatnasError, `not a LatnasError: ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, new RegExp(`^space file '${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
    assert.match(e.message, pattern);
    return true;
  });
}

test('every built-in space and the fixtures load', () => {
  for (const name of Object.keys(BUILTIN_SPACES)) assert.ok(searchableLayers(loadSpace(name)).length > 0);
  assert.equal(searchableLayers(loadSpace(TINY_SPACE)).length, 3);
});

test('a candidate may not set its own stride or channels: the stage owns the layer shape', () => {
  refused((s) => s.stages[0]!.candidates.push('k3_e6_s2'), /field 'stages\.0\.candidates\.3': candidate 'k3_e6_s2' sets stride 2 but stage 0 layer 0 has stride 1; drop s2/);
  refused((s) => s.stages[0]!.candidates.push('k3_e6_c24'), /field 'stages\.0\.candidates\.3': candidate 'k3_e6_c24' sets 24 channels but stage 0 has 8; drop c24/);
  refused((s) => s.stages[1]!.candidates.push('skip_s1'), /candidate 'skip_s1' sets stride 1 but stage 1 layer 0 has stride 2/);
  // Equal to the stage's value is just redundant, and fine.
  const s = tiny();
  s.stages[1]!.candidates.push('k3_e6_c16_s2');
  const path = join(dir, 'redundant.json');
  writeFileSync(path, JSON.stringify(s));
  assert.equal(searchableLayers(loadSpace(path))[2]!.candidates.length, 3);
});

test('numbers outside their physical range are refused by field', () => {
  refused((s) => { s.stages[0]!.c = 2147483648; }, /field 'stages\.0\.c': .*8192/);
  refused((s) => { s.input.h = 100000; }, /field 'input\.h': .*2048/);
  refused((s) => { s.stem.k = 4; }, /field 'stem\.k': must be odd/);
  refused((s) => { s.stem.k = 13; }, /field 'stem\.k'/);
  refused((s) => { s.classes = 1e9; }, /field 'classes'/);
  refused((s) => { s.stages[0]!.n = 1000; }, /field 'stages\.0\.n'/);
  refused((s) => { s.head.c = 0; }, /field 'head\.c'/);
  refused((s) => s.stages[0]!.candidates.push('k3_e1000000'), /field 'stages\.0\.candidates\.3': block 'k3_e1000000': expansion must be 1 to 16/);
  refused((s) => s.stages[0]!.candidates.push('k9_e3'), /kernel must be one of 1, 3, 5, 7/);
  refused((s) => s.stages[0]!.candidates.push('k3_e3_g3'), /channels 8 not divisible by groups 3/);
  // Number() would read these as 10, 3 and 0.001.
  refused((s) => s.stages[0]!.candidates.push('k3_e1e1'), /bad value in token 'e1e1'/);
  refused((s) => s.stages[0]!.candidates.push('k0x3_e1'), /bad value in token 'k0x3'/);
  refused((s) => s.stages[0]!.candidates.push('k3_e3_se1e-3'), /bad value in token 'se1e-3'/);
});

test('groups must divide the channels a candidate actually gets at its layer', () => {
  refused((s) => { s.stem.c = 6; s.stages[0]!.candidates.push('k3_e1_g4'); }, /candidate 'k3_e1_g4' at stage 0 layer 0: input channels 6 not divisible by groups 4/);
});

test('a space whose largest arch is beyond 100 M parameters or 20 G MACs is refused with its size', () => {
  refused((s) => {
    s.input = { c: 3, h: 224, w: 224 };
    s.stages = [{ c: 4096, n: 8, s: 1, candidates: ['k7_e16'] }];
  }, /its largest arch has \d+ M parameters \(\d+ MiB of float32 weights\), over the limit of 100 M; lower/);
  refused((s) => { s.input = { c: 3, h: 2048, w: 2048 }; s.stages = [{ c: 64, n: 8, s: 1, candidates: ['k7_e6'] }]; }, /G multiply-accumulates per image, over the limit of 20 G/);
});

test('full block strings: the same ranges', () => {
  assert.throws(() => parseBlock('ir_k3_e17_c16_s1'), /expansion must be 1 to 16, not 17/);
  assert.throws(() => parseBlock('ir_k3_e6_c9000_s1'), /channels must be 1 to 8192, not 9000/);
  assert.throws(() => parseBlock('skip_c16_s3'), /stride must be 1 or 2/);
  assert.throws(() => parseBlock('ir_k3_k5_e6_c16_s1'), /tokens 'k3' and 'k5' both set k; give each field once/);
  assert.throws(() => parseBlock('ir_k3_e6_c16_s1_re_hs'), /tokens 're' and 'hs' both set the activation/);
  assert.equal(parseBlock('ir_k5_e6_c40_s2_se0.25_hs').type, 'ir');
});

test('CLI: an oversized space is one line, exit 1', () => {
  const s = tiny();
  s.stages[0]!.candidates.push('k3_e1000000');
  const path = join(dir, 'e1000000.json');
  writeFileSync(path, JSON.stringify(s));
  const r = cli(['build', '--space', path, '--arch', 'k3_e1000000,k3_e1,k3_e3', '--out', join(dir, 'big.onnx')]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^latnas: space file '.*e1000000\.json': field 'stages\.0\.candidates\.3': block 'k3_e1000000': expansion must be 1 to 16/);
});
