/**
 * Corrupt state files (checkpoints, search state, evolution.json): valid JSON of the wrong shape,
 * truncated data, impossible values. Each is refused with one line naming the file, the field and
 * the fix, never a TypeError or RangeError from deep inside a resume.
 */
import assert from 'node:assert/strict';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { LatnasError } from '../src/errors.js';
import { parseEvolutionState } from '../src/search/evolution.js';
import { readTensorFile, writeTensorFile } from '../src/train/tensor-file.js';
import { cli, ROOT, tempDir } from './helpers.js';

const dir = tempDir();

/** A tensor file whose header is `header` (any JSON) followed by `floats` float32 values. */
function rawTensorFile(name: string, header: unknown, floats = 0, extraBytes = 0): string {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const buf = Buffer.alloc(4 + json.length + floats * 4 + extraBytes);
  buf.writeUInt32LE(json.length, 0);
  json.copy(buf, 4);
  const path = join(dir, name);
  writeFileSync(path, buf);
  return path;
}

function oneLine(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LatnasError, `not a LatnasError: ${(e as Error)?.stack ?? String(e)}`);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, pattern);
    return true;
  });
}

test('tensor files: headers that are JSON of the wrong shape are corrupt, by field', () => {
  const fix = 'delete it to start over, or choose another --out';
  for (const [header, field] of [
    [null, /\(top level\)/], [[1, 2], /\(top level\)/], [{ meta: {} }, /field 'tensors'/], [{ tensors: 'x' }, /field 'tensors'/],
    [{ tensors: [{ name: 'w', shape: [2], offset: -1, length: 2 }] }, /field 'tensors\.0\.offset'/],
    [{ tensors: [{ name: 'w', shape: ['2'], offset: 0, length: 2 }] }, /field 'tensors\.0\.shape\.0'/],
    [{ tensors: [{ name: 'w', shape: [2, 3], offset: 0, length: 2 }] }, /tensor 'w' has shape 2x3 \(6 values\) but length 2/],
    [{ tensors: [{ name: 'w', shape: [2], offset: 0, length: 2 }, { name: 'w', shape: [2], offset: 2, length: 2 }] }, /tensor 'w' appears twice/],
  ] as const) {
    const path = rawTensorFile('bad.bin', header, 4);
    oneLine(() => readTensorFile(path, 'checkpoint', { fix }), new RegExp(`^checkpoint '.*bad\\.bin' is corrupt \\(.*${field.source}.*\\); ${fix}$`));
  }
  oneLine(() => readTensorFile(rawTensorFile('odd.bin', { meta: null, tensors: [] }, 1, 3), 'checkpoint'), /its data is 7 bytes, not a whole number of float32 values/);
  oneLine(() => readTensorFile(rawTensorFile('short.bin', { meta: null, tensors: [{ name: 'w', shape: [8], offset: 0, length: 8 }] }, 4), 'checkpoint'), /tensor 'w' runs past the end/);
});

test('tensor files: meta is checked against the reader\'s schema', () => {
  const path = join(dir, 'ok.bin');
  writeTensorFile(path, { epoch: 2 }, [{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }]);
  const schema = z.object({ epoch: z.number().int(), history: z.array(z.unknown()) });
  oneLine(() => readTensorFile(path, 'checkpoint', { meta: schema, fix: 'delete it' }), /^checkpoint '.*ok\.bin' is corrupt \(field 'meta\.history': .*\); delete it$/);
  const r = readTensorFile(path, 'checkpoint', { meta: z.object({ epoch: z.number() }) });
  assert.equal(r.meta.epoch, 2);
  assert.deepEqual([...r.tensors.get('w')!.data], [1, 2]);
});

test('evolution.json: the wrong shape or an impossible state is refused by field, with the fix', () => {
  const sizes = [3, 3, 2];
  const run = { sizes, population: 2, cycles: 3 };
  const fix = 'delete it to start the search over, or choose another --out';
  const member = (path: number[], cycle: number) => ({ path, latencyMs: 0.1, acc: 0.5, score: 0.5, cycle });
  const good = { population: [member([0, 1, 1], -1), member([2, 2, 0], 0)], history: [member([0, 1, 1], -1), member([1, 1, 1], -1), member([2, 2, 0], 0)], cycle: 1, rng: 12345 };
  const s = parseEvolutionState(good, 'evolution state file \'e.json\'', run, fix);
  assert.equal(s.cycle, 1);
  // NaN accuracies are written as null and read back as NaN.
  assert.ok(Number.isNaN(parseEvolutionState({ ...good, history: [...good.history, { ...member([1, 0, 0], 0), acc: null, score: null }] }, 'e', run, fix).history[3]!.acc));
  for (const [data, pattern] of [
    [{}, /field 'population': .*; delete it to start the search over/],
    [[], /field '\(top level\)'/],
    [{ ...good, cycle: 1e9 }, /field 'cycle' is 1000000000, but this search runs 3 cycles/],
    [{ ...good, cycle: -1 }, /field 'cycle'/],
    [{ ...good, rng: 'x' }, /field 'rng'/],
    [{ ...good, population: [...good.population, member([0, 0, 0], 0)] }, /field 'population' has 3 members, more than the population size 2/],
    [{ ...good, population: [good.population[0]] }, /field 'population' has 1 members after 1 cycles/],
    [{ ...good, history: [member([0, 1], -1), ...good.history] }, /field 'history\.0\.path' has 2 layers, but the space has 3/],
    [{ ...good, history: [...good.history, member([0, 3, 0], 0)] }, /field 'history\.3\.path\.1' is candidate 3, but layer 1 has 3 candidates/],
    [{ ...good, history: [...good.history, member([0, 0, 0], 5)] }, /field 'history\.3\.cycle' is 5, but only 1 cycles are done/],
    [{ ...good, population: [{ ...member([0, 1, 1], -1), latencyMs: -1 }, good.population[1]] }, /field 'population\.0\.latencyMs'/],
  ] as const) {
    oneLine(() => parseEvolutionState(data, 'evolution state file \'e.json\'', run, fix), new RegExp(`^evolution state file 'e\\.json': ${pattern.source}`));
  }
});

test('train --resume: checkpoint meta of the wrong shape, and the messages around a run folder', () => {
  const space = join(ROOT, 'test/fixtures/tiny28-space.json');
  const train = (out: string, arch: string, ...extra: string[]) => cli(['train', '--space', space, '--arch', arch, '--dataset', 'mnist', '--out', out,
    '--epochs', '1', '--max-steps', '2', '--batch', '16', '--backend', 'wasm', '--quiet', ...extra]);
  const expectLine = (r: ReturnType<typeof cli>, pattern: RegExp) => {
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), pattern);
  };
  const done = join(dir, 'trained');
  assert.equal(train(done, 'k3_e1,k3_e3').code, 0);
  expectLine(train(done, 'k3_e1,k3_e3'), /^latnas: run folder '.*trained' already holds a finished training run \(weights\.bin\); choose another --out, or pass --resume with a larger --epochs/);
  expectLine(train(done, 'k3_e3_g2,k3_e3', '--resume'),
    /checkpoint '.*checkpoint\.bin' was made for arch ir_k3_e1_c8_s1_re,ir_k3_e3_c16_s2_re, not the --arch given .*; pass that --arch to continue it, or choose another --out/);
  // An unfinished run: the checkpoint without weights.bin.
  const partial = join(dir, 'partial');
  cpSync(done, partial, { recursive: true });
  rmSync(join(partial, 'weights.bin'));
  expectLine(train(partial, 'k3_e1,k3_e3'), /holds an unfinished training run \(checkpoint\.bin\); pass --resume to continue it/);
  const ck = readTensorFile(join(partial, 'checkpoint.bin'), 'checkpoint');
  const meta = ck.meta as Record<string, unknown>;
  for (const [edit, pattern] of [
    [(m: Record<string, unknown>) => { delete m['history']; }, /field 'meta\.history': [^)]*expected array[^)]*/],
    [(m: Record<string, unknown>) => { m['epoch'] = 7; }, /field 'meta\.epoch': differs from the number of epochs in history/],
    [(m: Record<string, unknown>) => { m['arch'] = 'k3_e1'; }, /field 'meta\.arch'[^)]*/],
  ] as const) {
    const m = structuredClone(meta);
    edit(m);
    writeTensorFile(join(partial, 'checkpoint.bin'), m, [...ck.tensors.values()]);
    expectLine(train(partial, 'k3_e1,k3_e3', '--resume'), new RegExp(`^latnas: checkpoint '.*checkpoint\\.bin' is corrupt \\(${pattern.source}\\); delete it to start training over`));
  }
});
