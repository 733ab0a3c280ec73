import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { LUT_SCHEMA_VERSION } from '../src/lut/lut.js';
import { cli, ROOT, tempDir, TINY_SPACE } from './helpers.js';

const dir = tempDir();
const table = join(dir, 'tiny.json');
const FAST = ['--rounds', '2', '--runs', '2', '--fit-nets', '12', '--chunk', '4', '--quiet'];

before(() => {
  const r = cli(['profile', '--device', 'ort-cpu-1t', '--space', TINY_SPACE, '--out', table, ...FAST]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /6 entries \(6 measured now, 0 kept\), 12 fit networks/);
});

test('predict and build work on a profiled table', async () => {
  const p = cli(['predict', '--table', table, '--space', TINY_SPACE, '--arch', 'k3_e1,skip,k3_e3', '--json']);
  assert.equal(p.code, 0, p.stderr);
  const out = JSON.parse(p.stdout) as { predictedMs: number; blocks: string[]; units: unknown[] };
  assert.ok(out.predictedMs > 0);
  assert.deepEqual(out.blocks, ['ir_k3_e1_c8_s1_re', 'skip_c8_s1', 'ir_k3_e3_c16_s2_re']);
  assert.equal(out.units.length, 5);

  const onnxFile = join(dir, 'net.onnx');
  const b = cli(['build', '--space', 'fbnet-mini', '--arch', Array(12).fill('k3_e6').join(','), '--out', onnxFile, '--batch', 'dynamic']);
  assert.equal(b.code, 0, b.stderr);
  const session = await ort.InferenceSession.create(readFileSync(onnxFile));
  const y = await session.run({ input: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.1), [2, 1, 28, 28]) });
  assert.deepEqual(y.logits!.dims, [2, 10]);
  await session.release();
});

test('a profile killed mid-run leaves a valid table and resumes from it', async () => {
  const out = join(dir, 'killed.json');
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), 'profile', '--device', 'ort-cpu-1t', '--space', TINY_SPACE, '--out', out,
    '--rounds', '40', '--runs', '20', '--fit-nets', '40', '--chunk', '2', '--quiet'], { stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  while (!existsSync(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const partial = JSON.parse(readFileSync(out, 'utf8')) as { complete: boolean; entries: Record<string, unknown> };
  assert.equal(partial.complete, false, 'the run should have been killed before finishing');
  const kept = Object.keys(partial.entries).length;
  assert.ok(kept >= 2);
  const r = cli(['profile', '--device', 'ort-cpu-1t', '--space', TINY_SPACE, '--out', out, '--resume', '--rounds', '40', '--runs', '20', '--fit-nets', '40', '--chunk', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`resuming .*: ${kept} of 6 units`));
  assert.match(r.stdout, new RegExp(`\\(${6 - kept} measured now, ${kept} kept\\), 40 fit networks`));
});

/** Asserts a one-line `latnas: ...` error, exit code 1, and that it matches. */
function expectError(args: string[], pattern: RegExp): void {
  const r = cli(args);
  assert.equal(r.code, 1, `expected exit 1 for ${args.join(' ')}; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got: ${r.stderr}`);
  assert.match(lines[0]!, /^latnas: /);
  assert.match(lines[0]!, pattern);
}

test('bad devices: malformed, invalid field, unknown', () => {
  const malformed = join(dir, 'malformed-device.json');
  writeFileSync(malformed, '{"name": "x", ');
  expectError(['profile', '--device', malformed, '--space', 'fbnet-mini'], /device file '.*malformed-device.json' is not valid JSON/);
  const invalid = join(dir, 'invalid-device.json');
  writeFileSync(invalid, JSON.stringify({ ...JSON.parse(readFileSync(join(ROOT, 'devices/ort-cpu-1t.json'), 'utf8')), threads: 0 }));
  expectError(['profile', '--device', invalid, '--space', 'fbnet-mini'], /device file '.*invalid-device.json': field 'threads': .*see devices\/ort-cpu-1t.json/);
  expectError(['profile', '--device', 'pixel9', '--space', 'fbnet-mini'], /unknown device 'pixel9': use one of .*ort-cpu-1t.*ort-wasm/);
});

test('bad spaces: malformed file, unknown name', () => {
  const malformed = join(dir, 'malformed-space.json');
  writeFileSync(malformed, '{"name": ');
  expectError(['profile', '--device', 'ort-cpu-1t', '--space', malformed], /space file '.*malformed-space.json' is not valid JSON/);
  expectError(['profile', '--device', 'ort-cpu-1t', '--space', 'resnet50'], /unknown space 'resnet50': use one of fbnet, fbnet-mini, mbv3, mbv3-mini, fbnet-mini-widths, mbv3-mini-widths/);
});

test('bad architectures: unknown block, wrong layer count, wrong stride, another space', () => {
  const base = ['predict', '--table', table, '--space', TINY_SPACE];
  expectError([...base, '--arch', 'k3_e1,k3_e1,k9_e3'], /layer 2: .*kernel must be one of/);
  expectError([...base, '--arch', 'k3_e1,k3_e1,k5_e6'], /layer 2: unknown block 'k5_e6' for space 'tiny'; candidates: ir_k3_e3_c16_s2_re, ir_k5_e3_c16_s2_se0.25_hs/);
  expectError([...base, '--arch', 'k3_e1,k3_e1'], /has 2 blocks but space 'tiny' has 3 searchable layers/);
  expectError([...base, '--arch', 'k3_e1,k3_e1,ir_k3_e3_c16_s1'], /layer 2 'ir_k3_e3_c16_s1' has stride 1 but space 'tiny' layer 2 has stride 2/);
  const arch = join(dir, 'arch.json');
  writeFileSync(arch, JSON.stringify({ space: 'fbnet', blocks: ['k3_e1', 'k3_e1', 'k3_e3'] }));
  expectError([...base, '--arch', arch], /arch file '.*arch.json': is for space 'fbnet' but the space is 'tiny'/);
});

test('bad tables: missing entry, truncated, other schema version, other device', () => {
  const text = readFileSync(table, 'utf8');
  const missing = join(dir, 'missing.json');
  const m = JSON.parse(text);
  delete m.entries['ir_k3_e3_c16_s2_re|8x8x8'];
  writeFileSync(missing, JSON.stringify(m));
  expectError(['predict', '--table', missing, '--space', TINY_SPACE, '--arch', 'k3_e1,k3_e1,k3_e3'],
    /has no entry 'ir_k3_e3_c16_s2_re\|8x8x8'; profile it with `latnas profile --device ort-cpu-1t --space tiny --out .*missing.json --resume`/);
  const truncated = join(dir, 'truncated.json');
  writeFileSync(truncated, text.slice(0, 200));
  expectError(['predict', '--table', truncated, '--arch', 'k3_e1,k3_e1,k3_e3'], /LUT file '.*truncated.json' is not valid JSON/);
  const v2 = join(dir, 'v2.json');
  writeFileSync(v2, JSON.stringify({ ...JSON.parse(text), schemaVersion: LUT_SCHEMA_VERSION + 1 }));
  expectError(['predict', '--table', v2, '--space', TINY_SPACE, '--arch', 'k3_e1,k3_e1,k3_e3'],
    new RegExp(`field 'schemaVersion' is ${LUT_SCHEMA_VERSION + 1} but this latnas reads ${LUT_SCHEMA_VERSION}`));
  expectError(['lut-check', '--device', 'ort-cpu-2t', '--space', TINY_SPACE, '--table', table, '--samples', '2'], /was made for device 'ort-cpu-1t', not 'ort-cpu-2t'/);
  expectError(['predict', '--table', join(dir, 'nope.json'), '--arch', 'k3_e1'], /LUT file '.*nope.json' cannot be read \(ENOENT\)|does not exist/);
});

test('bad options exit non-zero with usage help', () => {
  const r = cli(['profile', '--device', 'ort-cpu-1t']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /required option '--space/);
  const n = cli(['lut-check', '--device', 'ort-cpu-1t', '--space', 'fbnet', '--samples', 'many']);
  assert.notEqual(n.code, 0);
  assert.match(n.stderr, /--samples must be an integer >= 2/);
});
