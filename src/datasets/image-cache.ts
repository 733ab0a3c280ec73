/**
 * The decoded-image cache of a folder dataset (the one owner of its format): `images-<key>.bin`,
 * every sample's C×H×W bytes back to back (train, then val, then test) followed by one label byte
 * per sample, and `images-<key>.json`, its description. The JSON is written last, so its presence
 * marks a complete cache; the key (folder.ts) changes with any file, split or input size, so a
 * stale cache is never read, only left beside the new one.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { fail } from '../errors.js';
import { readAt, writeAt, writeFileAtomicWith, writeJsonAtomic } from '../util/files.js';

const MetaSchema = z.object({
  format: z.literal('latnas-image-cache'),
  version: z.literal(1),
  key: z.string(),
  shape: z.object({ c: z.number().int().positive(), h: z.number().int().positive(), w: z.number().int().positive() }),
  classes: z.array(z.string()).min(2),
  counts: z.object({ train: z.number().int().nonnegative(), val: z.number().int().nonnegative(), test: z.number().int().nonnegative() }),
  skipped: z.number().int().nonnegative(),
  decodeSeconds: z.number().nonnegative(),
  bytes: z.number().int().positive(),
});

export type CacheMeta = Omit<z.infer<typeof MetaSchema>, 'format' | 'version' | 'key' | 'bytes'>;

export interface CachedImages extends CacheMeta {
  path: string;
  /**
   * Every sample's bytes in memory, or undefined when the images are larger than the data memory
   * budget: they then stay on disk, sample i at byte i * C*H*W of `path` (read by samples.ts).
   */
  images?: Uint8Array;
  labels: Uint8Array;
}

/** The data memory budget in MiB: a cache larger than it is read from disk sample by sample instead of loaded. */
export const DATA_MEMORY_ENV = 'LATNAS_DATA_MEMORY_MIB';

/**
 * Bytes of decoded images a process may hold: $LATNAS_DATA_MEMORY_MIB, else a quarter of the
 * machine's memory (the workers, TF.js and the export need the rest; 6 GiB on a 24 GiB machine).
 */
export function dataMemoryBudget(): number {
  const text = process.env[DATA_MEMORY_ENV];
  if (text === undefined || text === '') return Math.floor(totalmem() / 4);
  const mib = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(mib)) fail(`${DATA_MEMORY_ENV}=${text}: give a whole number of MiB, e.g. 4096 (0 keeps every folder dataset on disk)`);
  return mib * 2 ** 20;
}

const paths = (dir: string, key: string) => ({ bin: join(dir, `images-${key}.bin`), meta: join(dir, `images-${key}.json`) });

/**
 * The cache for `key`, or undefined when there is none or it does not match its description (then
 * it is decoded again). Its images are loaded when they fit `budget` bytes, else left on disk.
 */
export function readImageCache(dir: string, key: string, budget = dataMemoryBudget()): CachedImages | undefined {
  const p = paths(dir, key);
  if (!existsSync(p.meta) || !existsSync(p.bin)) return undefined;
  let meta;
  try {
    meta = MetaSchema.parse(JSON.parse(readFileSync(p.meta, 'utf8')));
  } catch {
    return undefined;
  }
  const n = meta.counts.train + meta.counts.val + meta.counts.test;
  const imageBytes = n * meta.shape.c * meta.shape.h * meta.shape.w;
  if (meta.key !== key || meta.bytes !== imageBytes + n || statSync(p.bin).size !== meta.bytes) return undefined;
  const { format: _f, version: _v, key: _k, bytes: _b, ...described } = meta;
  if (imageBytes > budget) {
    const labels = new Uint8Array(n);
    const fd = openSync(p.bin, 'r');
    try {
      if (!readAt(fd, labels, imageBytes)) return undefined;
    } finally {
      closeSync(fd);
    }
    return { ...described, path: p.bin, labels };
  }
  // Read straight into shared memory: the worker threads then use this copy (shared-dataset.ts
  // copies only what is not shared yet). With readFileSync a 2-worker training at 3x64x64 peaked
  // 1.6 GiB above the same run from disk: the file's buffer plus its shared copy.
  const bytes = new Uint8Array(new SharedArrayBuffer(meta.bytes));
  const fd = openSync(p.bin, 'r');
  try {
    if (!readAt(fd, bytes, 0)) return undefined;
  } finally {
    closeSync(fd);
  }
  return { ...described, path: p.bin, images: bytes.subarray(0, imageBytes), labels: bytes.subarray(imageBytes) };
}

/** What a decode reports once every sample is written: the samples to keep (ascending) and their labels. */
export interface DecodedSet { meta: CacheMeta; kept: readonly number[]; labels: Uint8Array }

/**
 * Writes the cache for `count` samples without holding them: `decode` puts each sample's bytes
 * (in any order) straight into the temporary file; samples it does not keep are squeezed out
 * after, then the labels follow, then the file is renamed into place and its description written.
 * Memory stays one sample per decode in flight, whatever the folder's size. Returns the cache as
 * readImageCache does (in memory if within the budget).
 */
export async function writeImageCache(dir: string, key: string, sampleBytes: number, count: number,
  decode: (put: (i: number, bytes: Uint8Array) => void) => Promise<DecodedSet>): Promise<CachedImages> {
  const p = paths(dir, key);
  let done: DecodedSet | undefined;
  await writeFileAtomicWith(p.bin, async (fd) => {
    if (count > 0) ftruncateSync(fd, count * sampleBytes);
    done = await decode((i, bytes) => writeAt(fd, bytes, i * sampleBytes));
    const { kept, labels } = done;
    if (kept.length < count) {
      // Forward compaction in place: slot j <= i is never read again once written.
      const buf = new Uint8Array(sampleBytes);
      kept.forEach((i, j) => {
        if (i === j) return;
        if (!readAt(fd, buf, i * sampleBytes)) fail(`the decoded-image cache '${p.bin}' lost sample ${i} while being written; check the disk and rerun`);
        writeAt(fd, buf, j * sampleBytes);
      });
      ftruncateSync(fd, kept.length * sampleBytes);
    }
    writeAt(fd, labels, kept.length * sampleBytes);
  });
  const { meta, kept } = done!;
  writeJsonAtomic(p.meta, { format: 'latnas-image-cache', version: 1, key, ...meta, bytes: kept.length * sampleBytes + kept.length });
  const cached = readImageCache(dir, key);
  if (!cached) fail(`the decoded-image cache '${p.bin}' did not read back as written; check the disk, delete it and rerun`);
  return cached;
}
