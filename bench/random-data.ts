/** Random bytes in a space's shape as a Dataset: what the throughput benches train on (no download, no decoding). */
import type { Dataset } from '../src/datasets/dataset.js';
import type { Space } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';

/** `n` random images and labels, the same for train and test splits' shapes (test drawn after train). */
export function randomDataset(space: Space, n: number, seed: number): Dataset {
  const { c, h, w } = space.input;
  const rng = new Rng(seed);
  const split = () => ({
    images: Uint8Array.from({ length: n * c * h * w }, () => rng.int(256)), labels: Uint8Array.from({ length: n }, () => rng.int(space.classes)), count: n,
  });
  return {
    name: 'random', spec: 'random', source: 'bench', shape: space.input, classes: Array.from({ length: space.classes }, (_, i) => String(i)),
    train: split(), test: split(), augment: { pad: 0, flip: false },
  };
}
