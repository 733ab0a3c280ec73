/**
 * Reading a split's samples wherever they live: a view of the bytes for a split in memory, one
 * positioned read per sample for a split on disk (a folder's decoded cache larger than the data
 * memory budget, image-cache.ts). Every reader of pixels (batches, normalisation, writing a
 * folder) goes through here, so a split on disk trains exactly as the same split in memory.
 *
 * Hand-written: Node has no mmap, and the npm mmap packages need native builds that npm 11 will
 * not run; `readSync` at an offset is what is left. At 64 samples of 3x64x64 a batch is 64 reads
 * of 12 KiB, well under a millisecond from the page cache against tens of ms per training step.
 */
import { openSync } from 'node:fs';
import { fail } from '../errors.js';
import { readAt } from '../util/files.js';
import type { Split } from './dataset.js';

/** One descriptor per cache file per thread, open for the thread's life (a handful at most). */
const descriptors = new Map<string, number>();

function descriptor(path: string): number {
  let fd = descriptors.get(path);
  if (fd === undefined) {
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      fail(`cannot read the decoded-image cache '${path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); delete it and rerun to decode again`);
    }
    descriptors.set(path, fd);
  }
  return fd;
}

function readSample(path: string, into: Uint8Array, position: number): void {
  if (!readAt(descriptor(path), into, position)) {
    fail(`the decoded-image cache '${path}' ends before byte ${position + into.length} (truncated?); delete it and rerun to decode again`);
  }
}

export interface SampleReader {
  /** Sample i's bytes (CHW). From disk the buffer is reused: read it before the next get. */
  get(i: number): Uint8Array;
}

export function sampleReader(split: Split, sampleBytes: number): SampleReader {
  const images = split.images;
  if (images !== undefined) return { get: (i) => images.subarray(i * sampleBytes, (i + 1) * sampleBytes) };
  const { path, offset } = split.file;
  const buf = new Uint8Array(sampleBytes);
  return {
    get: (i) => {
      readSample(path, buf, offset + i * sampleBytes);
      return buf;
    },
  };
}

/** Samples [from, from + count) in one buffer: a view in memory, one read from disk (for bounded uses: writing a folder, tests). */
export function sampleRange(split: Split, sampleBytes: number, from = 0, count = split.count - from): Uint8Array {
  if (split.images !== undefined) return split.images.subarray(from * sampleBytes, (from + count) * sampleBytes);
  const out = new Uint8Array(count * sampleBytes);
  readSample(split.file.path, out, split.file.offset + from * sampleBytes);
  return out;
}
