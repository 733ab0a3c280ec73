/**
 * IDX files (the MNIST / Fashion-MNIST format): bytes 0-1 zero, byte 2 the element type, byte 3
 * the number of dimensions, then one big-endian uint32 per dimension, then the elements.
 * See http://yann.lecun.com/exdb/mnist/. Only unsigned-byte elements (type 0x08) occur in these sets.
 */
import { join } from 'node:path';
import { fail } from '../errors.js';
import { checkLabels, type Augment, type MemoryDataset, type MemorySplit } from './dataset.js';
import { firstExisting, readMaybeGzip } from './files.js';

export interface IdxArray {
  dims: number[];
  /** The elements, a view into the file's bytes. */
  data: Uint8Array;
}

const IDX_TYPES: Record<number, string> = {
  0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64',
};

/** Parses IDX bytes; `path` only names the file in errors, `gzipped` says the bytes were decompressed. */
export function parseIdx(bytes: Uint8Array, path: string, gzipped = false, expectDims?: number): IdxArray {
  const where = `IDX file '${path}'`;
  if (bytes.length < 4) fail(`${where} is ${bytes.length} bytes, too short for the 4-byte magic number; re-download it`);
  const magicHex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`${where} has bad magic number 0x${magicHex} (an IDX file starts with two zero bytes); it is not an IDX file, re-download it`);
  }
  const type = bytes[2]!;
  if (type !== 0x08) {
    const name = IDX_TYPES[type] ?? 'unknown';
    fail(`${where} has data type byte 0x${type.toString(16).padStart(2, '0')} (${name}) in magic number 0x${magicHex}; only unsigned bytes (0x08) are supported`);
  }
  const ndims = bytes[3]!;
  if (expectDims !== undefined && ndims !== expectDims) {
    fail(`${where} has ${ndims} dimensions (magic number 0x${magicHex}), expected ${expectDims}; check the images and labels files are not swapped`);
  }
  const header = 4 + 4 * ndims;
  if (bytes.length < header) fail(`${where} is ${bytes.length} bytes, too short for its ${header}-byte header; it is truncated, re-download it`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let elements = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    elements *= d;
  }
  const expected = header + elements;
  if (bytes.length !== expected) {
    fail(`${where}: dims ${dims.join('x')} need ${expected} bytes (${header}-byte header + ${elements}), ` +
      `but the file has ${bytes.length}${gzipped ? ' after gunzip' : ''}; it is truncated or corrupt, re-download it`);
  }
  return { dims, data: bytes.subarray(header) };
}

export function readIdx(path: string, expectDims?: number): IdxArray {
  const { bytes, gzipped } = readMaybeGzip(path);
  return parseIdx(bytes, path, gzipped, expectDims);
}

/** One split from an images file ([N, H, W]) and a labels file ([N]). */
export function readIdxSplit(imagesPath: string, labelsPath: string): { split: MemorySplit; h: number; w: number } {
  const images = readIdx(imagesPath, 3);
  const labels = readIdx(labelsPath, 1);
  const [n, h, w] = images.dims as [number, number, number];
  const m = labels.dims[0]!;
  if (n !== m) {
    fail(`IDX files disagree: '${imagesPath}' has ${n} images but '${labelsPath}' has ${m} labels; use the images and labels files of the same split`);
  }
  if (n === 0 || h === 0 || w === 0) fail(`IDX file '${imagesPath}' holds no pixels (dims ${images.dims.join('x')}); re-download it`);
  return { split: { images: images.data, labels: labels.data, count: n }, h, w };
}

/** The four files of an MNIST-layout directory; each may be gzipped, with or without a .gz name. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export interface IdxDirOptions {
  name: string;
  spec: string;
  /** Label names; when absent the labels are named by number, as many as the largest label needs. */
  classes?: readonly string[];
  augment: Augment;
  /** Appended to the missing-file error, e.g. how to install the set. */
  missingHint: string;
}

function locate(dir: string, base: string, opts: IdxDirOptions): string {
  const plain = join(dir, base);
  const found = firstExisting([`${plain}.gz`, plain]);
  if (found === undefined) fail(`${opts.name}: dataset file '${plain}.gz' (or '${plain}') is missing; ${opts.missingHint}`);
  return found;
}

export function loadIdxDir(dir: string, opts: IdxDirOptions): MemoryDataset {
  const paths = {
    trainImages: locate(dir, IDX_FILES.trainImages, opts),
    trainLabels: locate(dir, IDX_FILES.trainLabels, opts),
    testImages: locate(dir, IDX_FILES.testImages, opts),
    testLabels: locate(dir, IDX_FILES.testLabels, opts),
  };
  const train = readIdxSplit(paths.trainImages, paths.trainLabels);
  const test = readIdxSplit(paths.testImages, paths.testLabels);
  if (test.h !== train.h || test.w !== train.w) {
    fail(`IDX files disagree: '${paths.testImages}' holds ${test.h}x${test.w} images but '${paths.trainImages}' holds ${train.h}x${train.w}; both splits need one image size`);
  }
  let classes = opts.classes;
  if (classes === undefined) {
    let max = 0;
    for (const l of [train.split.labels, test.split.labels]) for (let i = 0; i < l.length; i++) max = Math.max(max, l[i]!);
    classes = Array.from({ length: max + 1 }, (_, i) => String(i));
  }
  checkLabels(train.split.labels, classes.length, paths.trainLabels);
  checkLabels(test.split.labels, classes.length, paths.testLabels);
  return {
    name: opts.name,
    spec: opts.spec,
    source: dir,
    shape: { c: 1, h: train.h, w: train.w },
    classes,
    train: train.split,
    test: test.split,
    augment: opts.augment,
  };
}
