/**
 * `--dataset folder:DIR`: a folder of photos, one subfolder per class (torchvision's ImageFolder,
 * Keras's image_dataset_from_directory), optionally split as DIR/train, DIR/val, DIR/test with
 * the same class folders. Images are decoded with sharp (libvips; its prebuilt binary ships in its
 * npm platform package), resized to cover the space's input and centre-cropped, grey or RGB as the
 * space needs, and stored once as raw bytes in a cache in the run folder (./image-cache.ts):
 * epochs, reruns and the export read the cache, never the photos.
 *
 * The scan (which files, which classes, which split) is synchronous and fails early with one line
 * per layout problem; decoding is asynchronous (sharp's API is).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, extname, join, relative, resolve } from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { fail } from '../errors.js';
import type { Shape } from '../space/ir.js';
import { writeFileAtomic } from '../util/files.js';
import { progress } from '../util/progress.js';
import { DATA_MEMORY_ENV, readImageCache, writeImageCache, type CachedImages } from './image-cache.js';
import type { Augment, Dataset, Split } from './dataset.js';

export const FOLDER_PREFIX = 'folder:';
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;
const SPLIT_NAMES = ['train', 'val', 'test'] as const;
type SplitName = (typeof SPLIT_NAMES)[number];
/** Labels are one byte per sample (dataset.ts). */
const MAX_CLASSES = 255;
/** Share of a folder without a `test` split held out as the test set, chosen by a hash of each file's path (stable when files are added). */
export const FOLDER_TEST_SHARE = 0.1;

export interface ImageFile { path: string; label: number; size: number; mtimeMs: number }

export interface FolderScan {
  dir: string;
  /** Class folder names, sorted (the label is the index): the same order on every machine. */
  classes: string[];
  /** 'classes': DIR/<class>/…; 'splits': DIR/train/<class>/… (and val, test). */
  layout: 'classes' | 'splits';
  train: ImageFile[];
  /** The user's validation split (DIR/val), else none: the trainer holds out its share of train. */
  val: ImageFile[];
  test: ImageFile[];
  /** Files in class folders that are not images by extension (not read). */
  ignored: number;
  /** True when the test split is FOLDER_TEST_SHARE of the images held out by a hash of each path (no DIR/test). */
  heldOutTest: boolean;
}

const isImage = (name: string) => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase());
const subfolders = (dir: string) => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
const imageList = IMAGE_EXTENSIONS.join(', ');

/** The folder a `folder:DIR` spec names, checked to exist. */
export function folderOf(spec: string): string {
  const dir = spec.slice(FOLDER_PREFIX.length);
  if (dir === '') fail(`--dataset '${spec}' names no directory; write folder:DIR, e.g. folder:./photos (DIR/<class>/*.jpg)`);
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) fail(`--dataset '${spec}': directory '${abs}' does not exist; check the path`);
  return abs;
}

/** The images of one split folder: DIR/<class>/*, each class folder checked to hold at least one. */
function scanSplit(dir: string, classes: readonly string[]): { files: ImageFile[]; ignored: number } {
  const files: ImageFile[] = [];
  let ignored = 0;
  classes.forEach((cls, label) => {
    const folder = join(dir, cls);
    if (!existsSync(folder)) fail(`folder dataset: '${dir}' has no folder for class '${cls}'; every split (train, val, test) needs the same class folders`);
    const names = readdirSync(folder, { withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name).sort();
    const images = names.filter(isImage);
    ignored += names.length - images.length;
    if (images.length === 0) fail(`folder dataset: class folder '${folder}' has no ${imageList} images; add images or remove the folder`);
    for (const name of images) {
      const path = join(folder, name);
      const st = statSync(path);
      files.push({ path, label, size: st.size, mtimeMs: Math.round(st.mtimeMs) });
    }
  });
  return { files, ignored };
}

/** Whether a file falls in the held-out test share: a hash of its path under DIR, so the split does not depend on the file count or order. */
function heldOut(dir: string, path: string): boolean {
  const h = createHash('sha256').update(relative(dir, path)).digest();
  return h.readUInt32BE(0) / 2 ** 32 < FOLDER_TEST_SHARE;
}

/** Lists a folder dataset's classes and files, failing with one line on a layout problem. */
export function scanFolder(dir: string): FolderScan {
  const top = subfolders(dir);
  const splitLayout = top.includes('train') && subfolders(join(dir, 'train')).length > 0;
  const classRoot = splitLayout ? join(dir, 'train') : dir;
  const classes = subfolders(classRoot);
  if (classes.length === 0) {
    const loose = readdirSync(dir).filter(isImage).length;
    fail(`folder dataset '${dir}' has no class folders${loose > 0 ? ` (it holds ${loose} images directly)` : ''}; lay it out as DIR/<class>/*.jpg, one folder per class`);
  }
  if (classes.length === 1) fail(`folder dataset '${classRoot}' has one class folder ('${classes[0]}'); a classifier needs at least 2 classes`);
  if (classes.length > MAX_CLASSES) fail(`folder dataset '${classRoot}' has ${classes.length} class folders; latnas takes at most ${MAX_CLASSES}`);
  if (!splitLayout) {
    const { files, ignored } = scanSplit(dir, classes);
    const test = files.filter((f) => heldOut(dir, f.path));
    const train = files.filter((f) => !heldOut(dir, f.path));
    if (train.length === 0 || test.length === 0) fail(`folder dataset '${dir}' has ${files.length} images, too few to hold out ${100 * FOLDER_TEST_SHARE}% as a test set; add images or give DIR/train and DIR/test`);
    return { dir, classes, layout: 'classes', train, val: [], test, ignored, heldOutTest: true };
  }
  const extra = (name: SplitName) => {
    const d = join(dir, name);
    if (!existsSync(d)) return undefined;
    const names = subfolders(d);
    const unknown = names.find((n) => !classes.includes(n));
    if (unknown !== undefined) fail(`folder dataset: '${join(d, unknown)}' is a class that '${classRoot}' does not have; every split needs the same class folders`);
    return scanSplit(d, classes);
  };
  const train = scanSplit(classRoot, classes);
  const val = extra('val');
  const test = extra('test');
  if (!test) {
    const held = train.files.filter((f) => heldOut(dir, f.path));
    const kept = train.files.filter((f) => !heldOut(dir, f.path));
    if (held.length === 0) fail(`folder dataset '${dir}' has no test folder and too few images to hold out ${100 * FOLDER_TEST_SHARE}%; add DIR/test/<class>/…`);
    return { dir, classes, layout: 'splits', train: kept, val: val?.files ?? [], test: held, ignored: train.ignored + (val?.ignored ?? 0), heldOutTest: true };
  }
  return { dir, classes, layout: 'splits', train: train.files, val: val?.files ?? [], test: test.files, ignored: train.ignored + (val?.ignored ?? 0) + test.ignored, heldOutTest: false };
}

/**
 * The input a folder suggests when none is given: grey (1 channel) when every sampled image is,
 * else RGB; its images' size when they all share one, else their median short side rounded down
 * to a multiple of 8 and capped at 224 (mobile classifiers run at 96-224).
 */
export async function suggestInput(scan: FolderScan, sample = 200): Promise<{ shape: Shape; why: string }> {
  const all = [...scan.train, ...scan.val, ...scan.test];
  const step = Math.max(1, Math.floor(all.length / sample));
  const picked = all.filter((_, i) => i % step === 0).slice(0, sample);
  // An unreadable file is skipped here: the decode names it (or, with --skip-bad, lists it).
  const read = await Promise.all(picked.map(async (f) => sharp(f.path).metadata().catch(() => undefined)));
  const metas = read.filter((m): m is NonNullable<typeof m> => m !== undefined);
  if (metas.length === 0) fail(`folder dataset '${scan.dir}': none of ${picked.length} sampled images can be read; check that they are ${imageList} files`);
  const grey = metas.every((m) => m.channels <= 2 || m.space === 'b-w');
  const sizes = new Set(metas.map((m) => `${m.height}x${m.width}`));
  const c = grey ? 1 : 3;
  if (sizes.size === 1) {
    const h = metas[0]!.height;
    const w = metas[0]!.width;
    return { shape: { c, h, w }, why: `every sampled image is ${grey ? 'grey' : 'colour'} ${h}x${w}` };
  }
  const shorts = metas.map((m) => Math.min(m.height, m.width)).sort((a, b) => a - b);
  const median = shorts[Math.floor(shorts.length / 2)]!;
  const side = Math.max(16, Math.min(224, Math.floor(median / 8) * 8));
  return { shape: { c, h: side, w: side }, why: `the sampled images' median short side is ${median} px (${grey ? 'grey' : 'colour'})` };
}

/** The cache key: the files (path, size, mtime), their splits and the decode's shape; any change decodes again. */
function cacheKey(scan: FolderScan, shape: Shape): string {
  const h = createHash('sha256').update(JSON.stringify({ v: 1, shape, classes: scan.classes }));
  for (const [name, files] of [['train', scan.train], ['val', scan.val], ['test', scan.test]] as const) {
    h.update(name);
    for (const f of files) h.update(`\n${relative(scan.dir, f.path)}\t${f.size}\t${f.mtimeMs}\t${f.label}`);
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * One image as C×H×W bytes: EXIF orientation applied, alpha flattened onto black, resized to
 * cover H×W and centre-cropped (torchvision's Resize + CenterCrop), grey or RGB.
 */
async function decodeOne(path: string, shape: Shape, out: Uint8Array): Promise<void> {
  let img = sharp(path, { failOn: 'error' }).rotate().flatten().resize(shape.w, shape.h, { fit: 'cover', position: 'centre' });
  img = shape.c === 1 ? img.greyscale() : img.toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== shape.w || info.height !== shape.h) throw new Error(`decoded to ${info.width}x${info.height}, not ${shape.w}x${shape.h}`);
  const hw = shape.h * shape.w;
  const ch = info.channels;
  // sharp returns HWC, interleaved; the dataset is CHW planes. A grey image asked for RGB comes back with 1 channel: repeated.
  for (let c = 0; c < shape.c; c++) {
    const from = Math.min(c, ch - 1);
    const plane = out.subarray(c * hw, (c + 1) * hw);
    for (let p = 0; p < hw; p++) plane[p] = data[p * ch + from]!;
  }
}

export interface FolderLoadOptions {
  /** The space's input: every image is decoded to it. */
  shape: Shape;
  /** Where the cache goes (the run folder's `images/`). */
  cacheDir: string;
  /** Count undecodable images and list them in cacheDir/bad-images.txt instead of stopping at the first. */
  skipBad?: boolean;
  quiet?: boolean;
}

/** The augmentation that suits a folder: random resized crop and mirror for RGB photos; for grey images (digits, sketches) a small pad-crop and no mirror. */
export function folderAugment(shape: Shape): Augment {
  return shape.c === 3 ? { pad: 0, flip: true, resizedCrop: { minScale: RESIZED_CROP_MIN_SCALE } } : { pad: Math.max(1, Math.round(shape.h / 14)), flip: false };
}

/**
 * The smallest area share a random resized crop keeps: torchvision's 0.08 is for 224x224 crops of
 * ImageNet photos; at 32-96 px an 8% crop is a few pixels, so the small-image recipes (e.g.
 * CIFAR's) keep much more. 0.35 is a compromise for small inputs, not tuned.
 */
export const RESIZED_CROP_MIN_SCALE = 0.35;

/** Decodes a scanned folder (or reads its cache) into a Dataset. */
export async function loadFolder(scan: FolderScan, spec: string, o: FolderLoadOptions): Promise<Dataset> {
  const key = cacheKey(scan, o.shape);
  const say = (s: string) => { if (!o.quiet) process.stderr.write(`${s}\n`); };
  let cached = readImageCache(o.cacheDir, key);
  if (cached) {
    say(`folder dataset: ${cached.counts.train + cached.counts.val + cached.counts.test} images of '${scan.dir}' from the cache '${cached.path}'${cached.images ? '' : ` (read from disk: over the ${DATA_MEMORY_ENV} budget)`}`);
  } else {
    cached = await decodeFolder(scan, o, key, say);
  }
  return toDataset(scan, spec, o.shape, cached);
}

async function decodeFolder(scan: FolderScan, o: FolderLoadOptions, key: string, say: (s: string) => void): Promise<CachedImages> {
  const order = [...scan.train, ...scan.val, ...scan.test];
  const bytes = o.shape.c * o.shape.h * o.shape.w;
  const started = Date.now();
  let skipped = 0;
  // Each decoded image goes straight to the cache file: memory holds the images in flight, not the folder.
  const cached = await writeImageCache(o.cacheDir, key, bytes, order.length, async (put) => {
    const ok = new Uint8Array(order.length);
    const bad: { path: string; error: string }[] = [];
    const bar = progress(`decoding ${basename(scan.dir)}`, order.length, o.quiet);
    // sharp decodes on libvips's own threads; a few images in flight per core keep them busy.
    const limit = pLimit(2 * availableParallelism());
    let firstError: Error | undefined;
    await Promise.all(order.map((f, i) => limit(async () => {
      if (firstError) return;
      try {
        const out = new Uint8Array(bytes);
        await decodeOne(f.path, o.shape, out);
        put(i, out);
        ok[i] = 1;
      } catch (e) {
        const error = (e as Error).message.split('\n')[0]!;
        if (!o.skipBad) firstError ??= new Error(`folder dataset: image '${f.path}' cannot be decoded (${error}); remove or replace it, or pass --skip-bad to skip such files`);
        else bad.push({ path: f.path, error });
      }
      bar.increment();
    })));
    bar.stop();
    if (firstError) fail(firstError.message);
    const keep = (files: readonly ImageFile[], from: number) => files.map((_, j) => from + j).filter((i) => ok[i] === 1);
    const parts = {
      train: keep(scan.train, 0), val: keep(scan.val, scan.train.length), test: keep(scan.test, scan.train.length + scan.val.length),
    };
    for (const [name, idx] of Object.entries(parts)) {
      const total = name === 'train' ? scan.train.length : name === 'val' ? scan.val.length : scan.test.length;
      if (total > 0 && idx.length === 0) fail(`folder dataset '${scan.dir}': every image of the ${name} split failed to decode (see --skip-bad's list); check the files`);
    }
    if (bad.length > 0) {
      const list = join(o.cacheDir, 'bad-images.txt');
      writeFileAtomic(list, bad.sort((x, y) => x.path.localeCompare(y.path)).map((x) => `${x.path}\t${x.error}\n`).join(''));
      say(`folder dataset: skipped ${bad.length} images that cannot be decoded; listed in '${list}'`);
    }
    skipped = bad.length;
    const kept = [...parts.train, ...parts.val, ...parts.test];
    return {
      kept, labels: Uint8Array.from(kept, (i) => order[i]!.label),
      meta: {
        shape: o.shape, classes: scan.classes, counts: { train: parts.train.length, val: parts.val.length, test: parts.test.length }, skipped: bad.length,
        decodeSeconds: (Date.now() - started) / 1000,
      },
    };
  });
  const n = order.length - skipped;
  say(`folder dataset: decoded ${n} images of '${scan.dir}' to ${o.shape.c}x${o.shape.h}x${o.shape.w} in ${cached.decodeSeconds.toFixed(1)} s; `
    + `cache '${cached.path}' (${((n * bytes) / 2 ** 20).toFixed(1)} MiB${cached.images ? '' : `, read from disk: over the ${DATA_MEMORY_ENV} budget`})`);
  return cached;
}

function toDataset(scan: FolderScan, spec: string, shape: Shape, c: CachedImages): Dataset {
  const bytes = shape.c * shape.h * shape.w;
  const nTrain = c.counts.train + c.counts.val;
  const images = c.images;
  const split = (from: number, count: number): Split => (images
    ? { images: images.subarray(from * bytes, (from + count) * bytes), labels: c.labels.subarray(from, from + count), count }
    : { file: { path: c.path, offset: from * bytes }, labels: c.labels.subarray(from, from + count), count });
  return {
    name: 'folder', spec, source: scan.dir, shape, classes: c.classes, cache: c.path,
    train: split(0, nTrain), test: split(nTrain, c.counts.test),
    // The user's DIR/val, when given, is the validation set (the last samples of train), not a seeded share.
    ...(c.counts.val > 0 ? { valCount: c.counts.val } : {}),
    augment: folderAugment(shape),
  };
}
