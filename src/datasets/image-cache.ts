/**
 * The decoded-image cache of a folder dataset (the one owner of its format): `images-<key>.bin`,
 * every sample's C×H×W bytes back to back (train, then val, then test) followed by one label byte
 * per sample, and `images-<key>.json`, its description. The JSON is written last, so its presence
 * marks a complete cache; the key (folder.ts) changes with any file, split or input size, so a
 * stale cache is never read, only left beside the new one.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic, writeJsonAtomic } from '../util/files.js';

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
  images: Uint8Array;
  labels: Uint8Array;
}

const paths = (dir: string, key: string) => ({ bin: join(dir, `images-${key}.bin`), meta: join(dir, `images-${key}.json`) });

/** The cache for `key`, or undefined when there is none or it does not match its description (then it is decoded again). */
export function readImageCache(dir: string, key: string): CachedImages | undefined {
  const p = paths(dir, key);
  if (!existsSync(p.meta) || !existsSync(p.bin)) return undefined;
  let meta;
  try {
    meta = MetaSchema.parse(JSON.parse(readFileSync(p.meta, 'utf8')));
  } catch {
    return undefined;
  }
  if (meta.key !== key || statSync(p.bin).size !== meta.bytes) return undefined;
  const raw = readFileSync(p.bin);
  const n = meta.counts.train + meta.counts.val + meta.counts.test;
  const imageBytes = n * meta.shape.c * meta.shape.h * meta.shape.w;
  if (raw.length !== imageBytes + n) return undefined;
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  return { ...meta, path: p.bin, images: bytes.subarray(0, imageBytes), labels: bytes.subarray(imageBytes) };
}

export function writeImageCache(dir: string, key: string, meta: CacheMeta, images: Uint8Array, labels: Uint8Array): CachedImages {
  const p = paths(dir, key);
  writeFileAtomic(p.bin, [images, labels]);
  writeJsonAtomic(p.meta, { format: 'latnas-image-cache', version: 1, key, ...meta, bytes: images.length + labels.length });
  return { ...meta, path: p.bin, images, labels };
}

