/**
 * Streams a dataset as training batches without materialising it as floats: each batch is
 * written into one preallocated NHWC Float32Array (TensorFlow.js's layout) and one Int32Array of
 * labels, converting, normalising and augmenting on the way. `tf.tensor(x)` copies, so a batch's
 * buffers may be overwritten by the next.
 */
import { fail } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { Augment, Dataset, Split } from './dataset.js';
import type { Normalization } from './normalize.js';
import { sampleReader, type SampleReader } from './samples.js';
import { shuffleInPlace } from './split.js';

export interface BatchOptions {
  batchSize: number;
  norm: Normalization;
  seed: number;
  /** Which split the indices refer to; default 'train'. */
  split?: 'train' | 'test';
  /** Samples of that split to stream (e.g. from splitTrainVal); default all of them. */
  indices?: ArrayLike<number>;
  /** New seeded order every epoch (training) or the given order (evaluation); default true. */
  shuffle?: boolean;
  /** Default none; `dataset.augment` holds the setting that suits the data. */
  augment?: Augment | null;
  /** Skip a last, smaller batch (its BatchNorm statistics are noisy); default false. */
  dropLast?: boolean;
}

/** The current batch. Every field is reused: read it before asking for the next batch. */
export interface Batch {
  /** [batchSize, H, W, C]; only the first `size` samples are valid. */
  readonly x: Float32Array;
  /** [batchSize]; only the first `size` are valid. */
  readonly y: Int32Array;
  /** The split indices of the samples in this batch. */
  readonly indices: Uint32Array;
  size: number;
}

export class BatchStream {
  readonly batchSize: number;
  readonly batch: Batch;
  private readonly source: Split;
  private readonly samplesOf: SampleReader;
  private readonly order: Uint32Array;
  private readonly shuffle: boolean;
  private readonly dropLast: boolean;
  private readonly pad: number;
  private readonly flip: boolean;
  private readonly minScale: number | undefined;
  /** (pixel/255 - mean) / std for every channel and byte: the per-pixel work is one lookup. */
  private readonly lut: Float32Array;
  // Separate generators, so switching augmentation on or off leaves the sample order unchanged.
  private readonly orderRng: Rng;
  private readonly augRng: Rng;

  constructor(private readonly dataset: Dataset, options: BatchOptions) {
    const { c: C, h: H, w: W } = dataset.shape;
    const bs = options.batchSize;
    if (!Number.isInteger(bs) || bs < 1) fail(`batch size ${bs} is invalid; pass a positive integer, e.g. 64`);
    this.batchSize = bs;
    this.source = dataset[options.split ?? 'train'];
    this.samplesOf = sampleReader(this.source, C * H * W);
    const count = this.source.count;
    const idx = options.indices;
    this.order = new Uint32Array(idx === undefined ? count : idx.length);
    for (let k = 0; k < this.order.length; k++) {
      const i = idx === undefined ? k : idx[k]!;
      if (!(Number.isInteger(i) && i >= 0 && i < count)) {
        fail(`batch index ${i} is outside ${dataset.spec}'s ${count} ${options.split ?? 'train'} samples; use indices from splitTrainVal`);
      }
      this.order[k] = i;
    }
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    const aug = options.augment ?? { pad: 0, flip: false };
    if (!Number.isInteger(aug.pad) || aug.pad < 0) fail(`augmentation pad ${aug.pad} is invalid; pass a non-negative integer, e.g. 2 for 28x28 or 4 for 32x32`);
    this.pad = aug.pad;
    this.flip = aug.flip;
    const ms = aug.resizedCrop?.minScale;
    if (ms !== undefined && !(ms > 0 && ms <= 1)) fail(`random resized crop minScale ${ms} is invalid; pass a share in (0, 1], e.g. 0.35`);
    this.minScale = ms;
    const { mean, std } = options.norm;
    if (mean.length !== C || std.length !== C) {
      fail(`normalisation has ${mean.length} means and ${std.length} stds but ${dataset.spec} has ${C} channels; compute it with computeNormalization on this dataset`);
    }
    this.lut = new Float32Array(C * 256);
    for (let c = 0; c < C; c++) {
      for (let v = 0; v < 256; v++) this.lut[c * 256 + v] = (v / 255 - mean[c]!) / std[c]!;
    }
    this.batch = { x: new Float32Array(bs * H * W * C), y: new Int32Array(bs), indices: new Uint32Array(bs), size: 0 };
    this.orderRng = new Rng(options.seed);
    this.augRng = new Rng((options.seed ^ 0x9e3779b9) >>> 0);
  }

  get samples(): number {
    return this.order.length;
  }

  get batchesPerEpoch(): number {
    const n = this.order.length / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** One pass over the samples; each call is a new epoch (reshuffled when shuffling). Yields the reused `batch`. */
  *epoch(): Generator<Batch, void, undefined> {
    if (this.shuffle) shuffleInPlace(this.order, this.orderRng);
    const n = this.order.length;
    const end = this.dropLast ? n - (n % this.batchSize) : n;
    for (let start = 0; start < end; start += this.batchSize) {
      this.fill(start, Math.min(this.batchSize, end - start));
      yield this.batch;
    }
  }

  private fill(start: number, size: number): void {
    const { c: C, h: H, w: W } = this.dataset.shape;
    const hw = H * W;
    const sampleBytes = C * hw;
    const { x, y, indices } = this.batch;
    const { labels } = this.source;
    const lut = this.lut;
    const pad = this.pad;
    for (let b = 0; b < size; b++) {
      const i = this.order[start + b]!;
      indices[b] = i;
      y[b] = labels[i]!;
      const img = this.samplesOf.get(i);
      if (this.minScale !== undefined) {
        this.resizedCrop(img, b * sampleBytes, this.minScale);
        continue;
      }
      // Crop offset in [-pad, pad]: output (oy, ox) reads source (oy + dy, ox + dx), zero outside.
      const dy = pad > 0 ? this.augRng.int(2 * pad + 1) - pad : 0;
      const dx = pad > 0 ? this.augRng.int(2 * pad + 1) - pad : 0;
      const mirror = this.flip && this.augRng.next() < 0.5;
      let o = b * sampleBytes;
      for (let oy = 0; oy < H; oy++) {
        const sy = oy + dy;
        const rowInside = sy >= 0 && sy < H;
        for (let ox = 0; ox < W; ox++) {
          const sx = (mirror ? W - 1 - ox : ox) + dx;
          const inside = rowInside && sx >= 0 && sx < W;
          const p = sy * W + sx;
          for (let c = 0; c < C; c++, o++) {
            // Zero padding is a zero pixel (black), as torchvision pads before normalising.
            x[o] = lut[c * 256 + (inside ? img[p + c * hw]! : 0)]!;
          }
        }
      }
    }
    this.batch.size = size;
  }

  /**
   * torchvision's RandomResizedCrop on one CHW image into the batch at `o` (NHWC): an area share
   * in [minScale, 1] and a log-uniform aspect ratio in [3/4, 4/3] (10 tries, then the whole
   * image), a uniform position, bilinear resampling back to H×W, then the coin-flip mirror. The
   * crop is taken from the cached image at the input size, not the original photo (the cache keeps
   * only that size), so a small crop is an upscale of fewer pixels than torchvision's would be.
   */
  private resizedCrop(img: Uint8Array, o: number, minScale: number): void {
    const { c: C, h: H, w: W } = this.dataset.shape;
    const hw = H * W;
    const rng = this.augRng;
    let cw = W;
    let ch = H;
    for (let t = 0; t < 10; t++) {
      const area = (minScale + (1 - minScale) * rng.next()) * hw;
      const ratio = Math.exp(Math.log(3 / 4) + (Math.log(4 / 3) - Math.log(3 / 4)) * rng.next());
      const w = Math.round(Math.sqrt(area * ratio));
      const h = Math.round(Math.sqrt(area / ratio));
      if (w >= 1 && h >= 1 && w <= W && h <= H) { cw = w; ch = h; break; }
    }
    const x0 = rng.int(W - cw + 1);
    const y0 = rng.int(H - ch + 1);
    const mirror = this.flip && rng.next() < 0.5;
    const { x } = this.batch;
    const lut = this.lut;
    const sy = ch / H;
    const sx = cw / W;
    for (let oy = 0; oy < H; oy++) {
      // Pixel centres map to pixel centres (align_corners=False), clamped to the crop.
      const fy = Math.min(Math.max(y0 + (oy + 0.5) * sy - 0.5, y0), y0 + ch - 1);
      const y1 = Math.floor(fy);
      const y2 = Math.min(y1 + 1, y0 + ch - 1);
      const wy = fy - y1;
      for (let ox = 0; ox < W; ox++) {
        const tx = mirror ? W - 1 - ox : ox;
        const fx = Math.min(Math.max(x0 + (tx + 0.5) * sx - 0.5, x0), x0 + cw - 1);
        const x1 = Math.floor(fx);
        const x2 = Math.min(x1 + 1, x0 + cw - 1);
        const wx = fx - x1;
        for (let c = 0, q = 0; c < C; c++, o++, q += hw) {
          const a = img[q + y1 * W + x1]!;
          const top = a + wx * (img[q + y1 * W + x2]! - a);
          const d = img[q + y2 * W + x1]!;
          const bottom = d + wx * (img[q + y2 * W + x2]! - d);
          x[o] = lut[c * 256 + Math.round(top + wy * (bottom - top))]!;
        }
      }
    }
  }
}
