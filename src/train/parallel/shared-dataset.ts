/**
 * A dataset in shared memory: its pixels and labels copied once into SharedArrayBuffers, which
 * postMessage hands to every worker by reference. Fashion-MNIST is 55 MB of bytes; with a copy
 * per worker, 16 workers would hold 880 MB of the same pixels.
 */
import type { Dataset, Split } from '../../datasets/dataset.js';

/** What a worker receives: the dataset's fields, its splits' bytes in SharedArrayBuffers. */
export type SharedDataset = Dataset;

function shareBytes(a: Uint8Array): Uint8Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const shared = new Uint8Array(new SharedArrayBuffer(a.byteLength));
  shared.set(a);
  return shared;
}

/** A split on disk goes as it is: every worker reads the cache file itself (samples.ts). */
function shareSplit(s: Split): Split {
  if (s.images === undefined) return s;
  return { images: shareBytes(s.images), labels: shareBytes(s.labels), count: s.count };
}

const shared = new WeakMap<Dataset, SharedDataset>();

/** The dataset with shared splits; copied once per dataset object, however many runs use it. */
export function shareDataset(dataset: Dataset): SharedDataset {
  let s = shared.get(dataset);
  if (!s) {
    s = { ...dataset, train: shareSplit(dataset.train), test: shareSplit(dataset.test) };
    shared.set(dataset, s);
  }
  return s;
}
