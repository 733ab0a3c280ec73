/**
 * CIFAR-10 "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html): data_batch_1..5.bin
 * (training) and test_batch.bin, each a run of 3073-byte records: 1 label byte, then 3072 pixel
 * bytes, the red, green and blue 32x32 planes (CHW).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { CIFAR10_CLASSES, checkLabels, type MemoryDataset, type MemorySplit } from './dataset.js';
import { readBytes } from './files.js';

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILE = 'test_batch.bin';

function recordCount(path: string): number {
  if (!existsSync(path)) {
    fail(`cifar10: dataset file '${path}' is missing; the directory must hold ${CIFAR10_TRAIN_FILES.join(', ')} and ${CIFAR10_TEST_FILE} (CIFAR-10 binary version, cifar-10-binary.tar.gz)`);
  }
  const size = statSync(path).size;
  if (size === 0 || size % RECORD !== 0) {
    fail(`CIFAR-10 file '${path}' is ${size} bytes, not a positive multiple of ${RECORD} (1 label byte + ${PIXELS} pixel bytes per record); it is truncated or not CIFAR-10 binary, re-download it`);
  }
  return size / RECORD;
}

/** Reads record files into one split, splitting labels from pixels without an intermediate copy. */
function readSplit(paths: readonly string[]): MemorySplit {
  const counts = paths.map(recordCount);
  const count = counts.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let r = 0;
  paths.forEach((path, k) => {
    const bytes = readBytes(path);
    // The file may have changed since it was sized; re-check rather than read past the end.
    if (bytes.length !== counts[k]! * RECORD) fail(`CIFAR-10 file '${path}' changed size while loading; load it again`);
    for (let off = 0; off < bytes.length; off += RECORD, r++) {
      labels[r] = bytes[off]!;
      images.set(bytes.subarray(off + 1, off + RECORD), r * PIXELS);
    }
    checkLabels(labels.subarray(r - counts[k]!, r), CIFAR10_CLASSES.length, path);
  });
  return { images, labels, count };
}

/** `dir` may be the extracted `cifar-10-batches-bin` directory or the one that contains it. */
export function loadCifar10(dir: string, spec = `cifar10:${dir}`): MemoryDataset {
  const nested = join(dir, 'cifar-10-batches-bin');
  const root = !existsSync(join(dir, CIFAR10_TRAIN_FILES[0]!)) && existsSync(join(nested, CIFAR10_TRAIN_FILES[0]!)) ? nested : dir;
  return {
    name: 'cifar10',
    spec,
    source: root,
    shape: { c: 3, h: 32, w: 32 },
    classes: CIFAR10_CLASSES,
    train: readSplit(CIFAR10_TRAIN_FILES.map((f) => join(root, f))),
    test: readSplit([join(root, CIFAR10_TEST_FILE)]),
    augment: { pad: 4, flip: true },
  };
}
