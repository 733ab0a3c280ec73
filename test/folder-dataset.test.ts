import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { BatchStream } from '../src/datasets/batches.js';
import type { Dataset, MemoryDataset } from '../src/datasets/dataset.js';
import { sampleRange } from '../src/datasets/samples.js';
import { loadFolder, scanFolder } from '../src/datasets/folder.js';
import { dataMemoryBudget, DATA_MEMORY_ENV } from '../src/datasets/image-cache.js';
import { computeNormalization } from '../src/datasets/normalize.js';
import { imageCacheDir, openDataset } from '../src/datasets/open.js';
import { splitTrainVal } from '../src/datasets/split.js';
import { writeImageFolder, type ImageFormat } from '../src/datasets/write-folder.js';
import { LatnasError } from '../src/errors.js';
import { deriveSpace, MIN_LAST_SIDE, parseInputShape } from '../src/space/derive.js';
import { convOutSize } from '../src/space/ir.js';
import { BUILTIN_SPACES, loadSpace, searchableLayers, spaceAt } from '../src/space/spaces.js';
import { EXPORTERS } from '../exporters/registry.js';
import { resolveArch } from '../src/space/arch.js';
import { initBackend } from '../src/train/backend.js';
import { train, TRAIN_DEFAULTS } from '../src/train/trainer.js';
import { cli, tempDir } from './helpers.js';
import { tinyDigits } from './tiny-idx.js';

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const grey = { c: 1, h: 28, w: 28 };

async function digitFolder(format: ImageFormat, train = 40, testCount = 24): Promise<{ dir: string; source: MemoryDataset }> {
  const source = tinyDigits(train, testCount);
  const dir = join(tempDir(), `digits-${format}`);
  await writeImageFolder(source, dir, { format, classNames: DIGITS });
  return { dir, source };
}

/** A split's pixels, wherever they are (memory or the cache file). */
const pixels = (d: Dataset, which: 'train' | 'test') => sampleRange(d[which], d.shape.c * d.shape.h * d.shape.w);

/** The source split's samples in the order a folder scan lists them: by class, then by file name (the index). */
function inFolderOrder(d: MemoryDataset, which: 'train' | 'test'): { images: Uint8Array; labels: number[] } {
  const s = d[which];
  const px = d.shape.c * d.shape.h * d.shape.w;
  const order = Array.from({ length: s.count }, (_, i) => i).sort((a, b) => s.labels[a]! - s.labels[b]! || a - b);
  const images = new Uint8Array(order.length * px);
  order.forEach((i, j) => images.set(s.images.subarray(i * px, (i + 1) * px), j * px));
  return { images, labels: order.map((i) => s.labels[i]!) };
}

async function expectFails(p: Promise<unknown> | (() => unknown), ...parts: string[]): Promise<void> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof LatnasError, `expected a LatnasError, got ${String(error)}`);
  assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
  for (const part of parts) assert.ok(error.message.includes(part), `'${error.message}' should mention '${part}'`);
}

test('a PNG folder decodes to the exact bytes it was written from, in class then file order, with the folder names as classes', async () => {
  const { dir, source } = await digitFolder('png');
  const cache = tempDir();
  const d = await loadFolder(scanFolder(dir), `folder:${dir}`, { shape: grey, cacheDir: cache, quiet: true });
  assert.deepEqual(d.classes, DIGITS);
  for (const which of ['train', 'test'] as const) {
    const want = inFolderOrder(source, which);
    assert.equal(d[which].count, source[which].count);
    assert.deepEqual([...d[which].labels], want.labels);
    assert.deepEqual(Buffer.from(pixels(d, which)), Buffer.from(want.images), `${which} pixels`);
  }
});

test('JPEG and WebP folders decode close to the original pixels (lossy at quality 95)', async () => {
  for (const format of ['jpeg', 'webp'] as const) {
    const { dir, source } = await digitFolder(format, 30, 24);
    const d = await loadFolder(scanFolder(dir), `folder:${dir}`, { shape: grey, cacheDir: tempDir(), quiet: true });
    const want = inFolderOrder(source, 'train');
    let diff = 0;
    const got = pixels(d, 'train');
    for (let i = 0; i < want.images.length; i++) diff += Math.abs(want.images[i]! - got[i]!);
    const mean = diff / want.images.length;
    assert.ok(mean > 0 && mean < 4, `${format}: mean |Δpixel| ${mean.toFixed(2)} should be small but nonzero (lossy)`);
    assert.deepEqual([...d.train.labels], want.labels);
  }
});

test('images are resized to cover the input and centre-cropped; grey images become RGB by repetition', async () => {
  const dir = join(tempDir(), 'wide');
  for (const cls of ['a', 'b']) mkdirSync(join(dir, cls), { recursive: true });
  // 60x20, left third black, middle third white, right third black: covering 10x10 keeps the middle, white.
  const w = 60;
  const h = 20;
  const px = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) for (let x = 20; x < 40; x++) px[y * w + x] = 255;
  for (const cls of ['a', 'b']) {
    for (let i = 0; i < 12; i++) await sharp(px, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toFile(join(dir, cls, `${i}.png`));
  }
  const d = await loadFolder(scanFolder(dir), `folder:${dir}`, { shape: { c: 3, h: 10, w: 10 }, cacheDir: tempDir(), quiet: true });
  const first = pixels(d, 'train').subarray(0, 300);
  assert.ok(first.every((v) => v > 200), `the centre crop is white: min ${Math.min(...first)}`);
  assert.deepEqual(d.shape, { c: 3, h: 10, w: 10 });
});

test('the cache is reused on a rerun and rebuilt when a file changes', async () => {
  const { dir } = await digitFolder('png', 30, 24);
  const cache = tempDir();
  const o = { shape: grey, cacheDir: cache, quiet: true };
  const a = await loadFolder(scanFolder(dir), `folder:${dir}`, o);
  assert.ok(a.cache && existsSync(a.cache));
  const stamp = statSync(a.cache).mtimeMs;
  const b = await loadFolder(scanFolder(dir), `folder:${dir}`, o);
  assert.equal(b.cache, a.cache);
  assert.equal(statSync(b.cache!).mtimeMs, stamp);
  assert.deepEqual(Buffer.from(pixels(b, 'train')), Buffer.from(pixels(a, 'train')));
  const victim = join(dir, 'train', '3', readFileNames(join(dir, 'train', '3'))[0]!);
  copyFileSync(join(dir, 'train', '1', readFileNames(join(dir, 'train', '1'))[0]!), victim);
  const c = await loadFolder(scanFolder(dir), `folder:${dir}`, o);
  assert.notEqual(c.cache, a.cache, 'a changed file is a new cache key');
});

const readFileNames = (dir: string) => readdirSync(dir).sort();

test('class order is the sorted folder names, whatever order the folders were made in', async () => {
  const dir = join(tempDir(), 'order');
  const names = ['zebra', 'Apple', 'mango', 'banana'];
  for (const n of names) {
    mkdirSync(join(dir, n), { recursive: true });
    for (let i = 0; i < 12; i++) await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 10 * i, g: 0, b: 0 } } }).png().toFile(join(dir, n, `${i}.png`));
  }
  const scan = scanFolder(dir);
  assert.deepEqual(scan.classes, [...names].sort());
  assert.ok(scan.heldOutTest && scan.test.length > 0 && scan.train.length + scan.test.length === 48);
  // The held-out test share is a function of the paths: the same files on a rescan.
  assert.deepEqual(scanFolder(dir).test.map((f) => f.path), scan.test.map((f) => f.path));
});

test('layout errors are one line each: empty class, class missing from a split, one class, no class folders, stray class', async () => {
  const { dir } = await digitFolder('png', 30, 24);
  const empty = join(dir, 'train', '7');
  rmSync(empty, { recursive: true });
  mkdirSync(empty);
  await expectFails(() => scanFolder(dir), `class folder '${empty}' has no .jpg, .jpeg, .png, .webp images`);

  const missing = (await digitFolder('png', 30, 24)).dir;
  rmSync(join(missing, 'test', '4'), { recursive: true });
  await expectFails(() => scanFolder(missing), `'${join(missing, 'test')}' has no folder for class '4'`, 'same class folders');

  const stray = (await digitFolder('png', 30, 24)).dir;
  renameSync(join(stray, 'test', '4'), join(stray, 'test', 'four'));
  await expectFails(() => scanFolder(stray), `'${join(stray, 'test', 'four')}' is a class that`);

  const one = join(tempDir(), 'one');
  mkdirSync(join(one, 'cat'), { recursive: true });
  writeFileSync(join(one, 'cat', 'a.png'), 'x');
  await expectFails(() => scanFolder(one), "one class folder ('cat')", 'at least 2 classes');

  const flat = join(tempDir(), 'flat');
  mkdirSync(flat);
  writeFileSync(join(flat, 'a.jpg'), 'x');
  await expectFails(() => scanFolder(flat), 'has no class folders (it holds 1 images directly)', 'DIR/<class>/*.jpg');
});

test('an undecodable image stops the load naming it; with skipBad it is counted and listed, and the rest load', async () => {
  const { dir, source } = await digitFolder('png', 30, 24);
  const bad = join(dir, 'train', '2', 'zz-broken.png');
  writeFileSync(bad, 'not a png at all');
  const failed = tempDir();
  await expectFails(loadFolder(scanFolder(dir), `folder:${dir}`, { shape: grey, cacheDir: failed, quiet: true }), `image '${bad}' cannot be decoded`, '--skip-bad');
  assert.deepEqual(readdirSync(failed), [], 'a failed decode leaves no cache and no temporary file');
  const cache = tempDir();
  const d = await loadFolder(scanFolder(dir), `folder:${dir}`, { shape: grey, cacheDir: cache, quiet: true, skipBad: true });
  assert.equal(d.train.count, source.train.count);
  // The skipped slot (mid-split: class 2 of 10) is squeezed out of the cache file: every later image moves up one.
  assert.deepEqual(Buffer.from(pixels(d, 'train')), Buffer.from(inFolderOrder(source, 'train').images));
  const list = readFileSync(join(cache, 'bad-images.txt'), 'utf8').trim().split('\n');
  assert.equal(list.length, 1);
  assert.ok(list[0]!.startsWith(`${bad}\t`), list[0]);
});

test('a DIR/val split is the validation set whenever one is asked for', async () => {
  const { dir } = await digitFolder('png', 40, 24);
  // Move the test split's images to val, and write a fresh test split.
  renameSync(join(dir, 'test'), join(dir, 'val'));
  cpSync(join(dir, 'val'), join(dir, 'test'), { recursive: true });
  const d = await loadFolder(scanFolder(dir), `folder:${dir}`, { shape: grey, cacheDir: tempDir(), quiet: true });
  assert.equal(d.valCount, 24);
  assert.equal(d.train.count, 64);
  const split = splitTrainVal(d, 0.1, 5);
  assert.deepEqual([...split.val], Array.from({ length: 24 }, (_, i) => 40 + i));
  assert.equal(split.train.length, 40);
  assert.deepEqual(splitTrainVal(d, 0, 5).val.length, 0, 'no validation asked: none');
});

test('openDataset derives the space from a built-in one: the images choose the input, the folder the class count', async () => {
  const dir = join(tempDir(), 'rgb');
  for (const n of ['cat', 'dog', 'owl']) {
    mkdirSync(join(dir, n), { recursive: true });
    for (let i = 0; i < 14; i++) await sharp({ create: { width: 48 + (i % 3) * 8, height: 40, channels: 3, background: { r: 20 * i, g: 90, b: 5 } } }).jpeg().toFile(join(dir, n, `${i}.jpg`));
  }
  const run = tempDir();
  const { space, dataset } = await openDataset(`folder:${dir}`, loadSpace('fbnet-mini'), { cacheDir: imageCacheDir(run), quiet: true });
  assert.equal(space.name, 'fbnet-mini-3x40x40-3cls');
  assert.deepEqual(space.input, { c: 3, h: 40, w: 40 });
  assert.equal(space.classes, 3);
  assert.deepEqual(dataset.shape, space.input);
  assert.deepEqual(dataset.augment.resizedCrop, { minScale: 0.35 });
  assert.deepEqual(loadSpace(space.name), space, 'the derived name loads the same space');
  // --input wins, and a space that is already derived keeps its input.
  const asked = await openDataset(`folder:${dir}`, loadSpace('fbnet-mini'), { input: { c: 1, h: 32, w: 32 }, cacheDir: imageCacheDir(run), quiet: true });
  assert.equal(asked.space.name, 'fbnet-mini-1x32x32-3cls');
  const kept = await openDataset(`folder:${dir}`, loadSpace('fbnet-mini-3x64x64'), { cacheDir: imageCacheDir(run), quiet: true });
  assert.equal(kept.space.name, 'fbnet-mini-3x64x64-3cls');
});

test('derived spaces: the stride plan keeps the last map >= 3x3, big inputs get a stride-2 stem, every layer builds', () => {
  for (const base of Object.values(BUILTIN_SPACES)) {
    for (const side of [8, 16, 24, 40, 64, 96, 128, 224, 320]) {
      const input = { c: 3, h: side, w: side };
      const s = deriveSpace(base, { input });
      const strides = [s.stem.s, ...s.stages.map((st) => st.s)];
      const last = strides.reduce((n, st) => convOutSize(n, st), side);
      assert.ok(last >= MIN_LAST_SIDE, `${s.name}: last map ${last}`);
      assert.ok(searchableLayers(s).length === searchableLayers(base).length);
      if (side === base.input.h) assert.deepEqual(strides, [base.stem.s, ...base.stages.map((st) => st.s)]);
    }
  }
  assert.equal(deriveSpace(BUILTIN_SPACES['fbnet-mini']!, { input: { c: 3, h: 96, w: 96 } }).stem.s, 2);
  assert.equal(deriveSpace(BUILTIN_SPACES['fbnet-mini']!, { input: { c: 1, h: 28, w: 28 } }), BUILTIN_SPACES['fbnet-mini'], 'no change: the same space');
  assert.equal(spaceAt(loadSpace('fbnet-mini-3x64x64'), { input: { c: 3, h: 96, w: 96 } }).name, 'fbnet-mini-3x96x96', 're-derived from the base');
  assert.throws(() => parseInputShape('2x64x64'), /1 \(grey\) or 3 \(RGB\)/);
  assert.throws(() => parseInputShape('3x4x4'), /8 to 1024/);
});

test('random resized crop: the whole image at scale 1, pixels within range otherwise, and the sample order unchanged', () => {
  const d = tinyDigits(64, 8);
  const norm = { mean: [0], std: [1] };
  const plain = new BatchStream(d, { batchSize: 16, norm, seed: 3, shuffle: false });
  const whole = new BatchStream({ ...d, augment: { pad: 0, flip: false, resizedCrop: { minScale: 1 } } }, { batchSize: 16, norm, seed: 3, shuffle: false, augment: { pad: 0, flip: false, resizedCrop: { minScale: 1 } } });
  const a = plain.epoch().next().value!;
  const ax = Float32Array.from(a.x);
  const b = whole.epoch().next().value!;
  // Scale 1 with an aspect ratio that fits only as the whole image (area = H·W): the exact pixels.
  let maxDiff = 0;
  for (let i = 0; i < ax.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ax[i]! - b.x[i]!));
  assert.ok(maxDiff < 1e-6, `scale 1 changes nothing (max |Δ| ${maxDiff})`);
  const aug = { pad: 0, flip: true, resizedCrop: { minScale: 0.3 } };
  const crop = new BatchStream(d, { batchSize: 16, norm, seed: 3, shuffle: false, augment: aug });
  const c = crop.epoch().next().value!;
  assert.deepEqual([...c.indices], [...a.indices]);
  assert.ok(c.x.every((v) => v >= 0 && v <= 1));
  let changed = 0;
  for (let i = 0; i < ax.length; i++) if (Math.abs(ax[i]! - c.x[i]!) > 1e-6) changed++;
  assert.ok(changed > ax.length / 10, `crops change the images (${changed} of ${ax.length} values)`);
});

test('latnas train on a folder: derived space named in the run, cache in the run folder, bad file in one line without a stack trace', async () => {
  const { dir } = await digitFolder('png', 64, 24);
  const out = join(tempDir(), 'run');
  const arch = Array(12).fill('k3_e1').join(',');
  const r = cli(['train', '--space', 'fbnet-mini', '--arch', arch, '--dataset', `folder:${dir}`, '--out', out, '--epochs', '1', '--max-steps', '2', '--batch', '16', '--workers', '1', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /folder dataset: 10 classes \(0, 1, 2, 3, 4, 5, 6, 7, …\); 64 train, 24 test images/);
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { classes: string[]; imageCache: string; datasetSpec: string };
  assert.deepEqual(metrics.classes, DIGITS);
  assert.ok(metrics.imageCache.startsWith(join(out, 'images')), metrics.imageCache);
  const again = cli(['train', '--space', 'fbnet-mini', '--arch', arch, '--dataset', `folder:${dir}`, '--out', join(tempDir(), 'run2'), '--epochs', '1', '--max-steps', '1', '--batch', '16', '--workers', '1', '--backend', 'wasm']);
  assert.equal(again.code, 0, again.stderr);
  const within = cli(['train', '--space', 'fbnet-mini', '--arch', arch, '--dataset', `folder:${dir}`, '--out', join(dir, 'train', 'run'), '--epochs', '1', '--quiet']);
  assert.equal(within.code, 1);
  assert.match(within.stderr, /would overwrite the --dataset folder/, 'a run folder inside the images would become a class');
  writeFileSync(join(dir, 'train', '5', 'broken.jpg'), 'garbage');
  const bad = cli(['train', '--space', 'fbnet-mini', '--arch', arch, '--dataset', `folder:${dir}`, '--out', join(tempDir(), 'run3'), '--epochs', '1', '--max-steps', '1', '--workers', '1', '--quiet']);
  assert.equal(bad.code, 1);
  const lines = bad.stderr.trim().split('\n');
  assert.equal(lines.length, 1, bad.stderr);
  assert.match(lines[0]!, new RegExp(`image '${join(dir, 'train', '5', 'broken.jpg')}' cannot be decoded`));
});

test('export reuses a folder dataset already in memory (the pipeline\'s) instead of opening the images again', async () => {
  const { dir } = await digitFolder('png', 64, 24);
  const out = join(tempDir(), 'run');
  const arch = Array(12).fill('k3_e1').join(',');
  const r = cli(['train', '--space', 'fbnet-mini', '--arch', arch, '--dataset', `folder:${dir}`, '--out', out, '--epochs', '1', '--max-steps', '2', '--batch', '16', '--workers', '1', '--backend', 'wasm', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const spec = (JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { datasetSpec: string }).datasetSpec;
  const loaded = await loadFolder(scanFolder(dir), spec, { shape: grey, cacheDir: tempDir(), quiet: true });
  // Neither the photos nor the run's decoded cache are left: only the copy in memory can serve.
  rmSync(dir, { recursive: true });
  rmSync(imageCacheDir(out), { recursive: true });
  const { onnx } = EXPORTERS;
  await expectFails(onnx.export({ run: out, out: join(tempDir(), 'a', 'model.onnx'), skipLatency: true, backend: 'wasm', quiet: true }), 'does not exist');
  const model = join(tempDir(), 'b', 'model.onnx');
  const e = await onnx.export({ run: out, out: model, skipLatency: true, backend: 'wasm', quiet: true, loaded });
  assert.ok(existsSync(model) && e.bytes > 0);
  // The same copy at another input is not this run's data: it is not used.
  await expectFails(onnx.export({ run: out, out: join(tempDir(), 'c', 'model.onnx'), skipLatency: true, backend: 'wasm', quiet: true,
    loaded: { ...loaded, shape: { c: 3, h: 28, w: 28 } } }), 'does not exist');
});

/** Runs `f` with the data memory budget at `mib` MiB (restored after). */
async function withBudget<T>(mib: string, f: () => Promise<T>): Promise<T> {
  const old = process.env[DATA_MEMORY_ENV];
  process.env[DATA_MEMORY_ENV] = mib;
  try {
    return await f();
  } finally {
    if (old === undefined) delete process.env[DATA_MEMORY_ENV];
    else process.env[DATA_MEMORY_ENV] = old;
  }
}

test('a folder over the data memory budget stays on disk and streams, batches and trains (1 and 2 workers) exactly as in memory', async () => {
  const { dir } = await digitFolder('png', 64, 24);
  const cache = tempDir();
  const o = { shape: grey, cacheDir: cache, quiet: true };
  const mem = await loadFolder(scanFolder(dir), `folder:${dir}`, o);
  // Read from the same cache under a budget of 0 MiB: only the labels are loaded.
  const disk = await withBudget('0', () => loadFolder(scanFolder(dir), `folder:${dir}`, o));
  assert.ok(mem.train.images !== undefined && disk.train.images === undefined && disk.test.images === undefined);
  assert.equal(disk.train.file?.path, mem.cache);
  for (const which of ['train', 'test'] as const) assert.deepEqual(Buffer.from(pixels(disk, which)), Buffer.from(pixels(mem, which)), which);
  const idx = splitTrainVal(mem, 0.1, 4).train;
  assert.deepEqual(computeNormalization(disk, idx), computeNormalization(mem, idx));
  const norm = computeNormalization(mem, idx);
  for (const augment of [{ pad: 2, flip: true }, { pad: 0, flip: true, resizedCrop: { minScale: 0.35 } }]) {
    const a = new BatchStream(mem, { batchSize: 16, norm, seed: 9, indices: idx, augment });
    const b = new BatchStream(disk, { batchSize: 16, norm, seed: 9, indices: idx, augment });
    // The batch object is reused: copy each one as it comes.
    const bs: { x: Float32Array; y: Int32Array }[] = [];
    for (const x of b.epoch()) bs.push({ x: Float32Array.from(x.x), y: Int32Array.from(x.y) });
    let k = 0;
    for (const x of a.epoch()) {
      assert.deepEqual(x.x, bs[k]!.x, `batch ${k} pixels (${JSON.stringify(augment)})`);
      assert.deepEqual(x.y, bs[k]!.y);
      k++;
    }
    assert.equal(k, bs.length);
  }
  const backend = await initBackend('wasm');
  const space = loadSpace('fbnet-mini');
  const blocks = resolveArch(space, Array(12).fill('k3_e1') as string[]);
  for (const workers of [1, 2]) {
    const weights: Buffer[] = [];
    for (const dataset of [mem, disk]) {
      const out = join(tempDir(), 'run');
      await train({ ...TRAIN_DEFAULTS, space, blocks, dataset, out, epochs: 1, maxSteps: 2, batch: 16, seed: 5, resume: false, quiet: true, backend: backend.name, workers });
      weights.push(readFileSync(join(out, 'weights.bin')));
    }
    assert.ok(weights[0]!.equals(weights[1]!), `${workers} worker(s): the same weights from disk as from memory`);
  }
  await assert.rejects(withBudget('lots', async () => dataMemoryBudget()), (e: Error) => e instanceof LatnasError && /^LATNAS_DATA_MEMORY_MIB=lots: give a whole number of MiB/.test(e.message));
  assert.equal(await withBudget('3', async () => dataMemoryBudget()), 3 * 2 ** 20);
});

