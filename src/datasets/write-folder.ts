/**
 * A loaded dataset written out as an image folder (DIR/train/<class>/N.png, DIR/test/<class>/…),
 * encoded with sharp: the inverse of folder.ts, for tests and for the benchmark that checks a
 * folder trains as its IDX original does.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import type { Dataset, Split } from './dataset.js';
import { sampleRange } from './samples.js';

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface WriteFolderOptions {
  format: ImageFormat;
  /** JPEG/WebP quality (default 95: near-lossless, as a camera's "fine" setting). */
  quality?: number;
  /** At most this many images per split (default all). */
  limit?: { train?: number; test?: number };
  /** Class folder names (default the dataset's class names, made safe for a file system). */
  classNames?: readonly string[];
}

/** A class name as a folder name: `T-shirt/top` → `T-shirt_top`. */
export const folderName = (name: string) => name.replace(/[/\\:*?"<>|]/g, '_');

/** One CHW image as an encoded file. */
async function writeImage(split: Split, i: number, shape: Dataset['shape'], path: string, o: WriteFolderOptions): Promise<void> {
  const { c, h, w } = shape;
  const hw = h * w;
  const hwc = Buffer.alloc(c * hw);
  const chw = sampleRange(split, c * hw, i, 1);
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) hwc[p * c + ch] = chw[ch * hw + p]!;
  // Without b-w, sharp writes a 1-channel image as 3-channel sRGB.
  const raw = sharp(hwc, { raw: { width: w, height: h, channels: c as 1 | 3 } });
  const img = c === 1 ? raw.toColourspace('b-w') : raw;
  const q = o.quality ?? 95;
  const encoded = o.format === 'png' ? img.png() : o.format === 'jpeg' ? img.jpeg({ quality: q }) : img.webp({ quality: q });
  await encoded.toFile(path);
}

/** Writes the dataset's splits under `dir`; returns the number of files written. */
export async function writeImageFolder(dataset: Dataset, dir: string, o: WriteFolderOptions): Promise<number> {
  const names = (o.classNames ?? dataset.classes).map(folderName);
  const limit = pLimit(2 * availableParallelism());
  const ext = o.format === 'jpeg' ? 'jpg' : o.format;
  const jobs: Promise<void>[] = [];
  for (const which of ['train', 'test'] as const) {
    const split = dataset[which];
    const n = Math.min(split.count, o.limit?.[which] ?? split.count);
    for (const name of names) mkdirSync(join(dir, which, name), { recursive: true });
    for (let i = 0; i < n; i++) {
      const path = join(dir, which, names[split.labels[i]!]!, `${String(i).padStart(5, '0')}.${ext}`);
      jobs.push(limit(() => writeImage(split, i, dataset.shape, path, o)));
    }
  }
  await Promise.all(jobs);
  return jobs.length;
}
