/**
 * A dataset and the space that fits it, from a `--dataset` spec and `--space`/`--input`: the one
 * place commands open data. IDX, CIFAR-10 and the MNIST sets load as they are; a folder of images
 * (folder.ts) is decoded to the space's input, which, when no --input is given and the space is
 * a built-in one, the images suggest; the space is derived at that input and at the folder's
 * class count (derive.ts).
 */
import { join } from 'node:path';
import { formatShape } from '../space/derive.js';
import type { Shape } from '../space/ir.js';
import { isBuiltinSpace, spaceAt, type Space } from '../space/spaces.js';
import type { Dataset } from './dataset.js';
import { FOLDER_PREFIX, FOLDER_TEST_SHARE, folderOf, loadFolder, scanFolder, suggestInput } from './folder.js';
import { loadDataset } from './load.js';

export interface OpenOptions {
  /** --input: the space is derived at this input (a folder's images are decoded to it). */
  input?: Shape;
  /** Where a folder dataset's decoded-image cache goes (a run folder's imageCacheDir). */
  cacheDir: string;
  /** Skip undecodable images of a folder (listed in the cache folder) instead of stopping. */
  skipBad?: boolean;
  quiet?: boolean;
}

/** Where a run folder keeps its decoded-image cache. */
export const imageCacheDir = (runDir: string) => join(runDir, 'images');

export const isFolderSpec = (spec: string) => spec.startsWith(FOLDER_PREFIX);

export async function openDataset(spec: string, space: Space, o: OpenOptions): Promise<{ dataset: Dataset; space: Space }> {
  const say = (s: string) => { if (!o.quiet) process.stderr.write(`${s}\n`); };
  if (!isFolderSpec(spec)) return { space: spaceAt(space, { input: o.input }), dataset: loadDataset(spec) };
  const scan = scanFolder(folderOf(spec));
  let input = o.input;
  // The images choose the input of a built-in space only: a derived or user space's input is deliberate.
  if (!input && isBuiltinSpace(space)) {
    const s = await suggestInput(scan);
    input = s.shape;
    if (formatShape(input) !== formatShape(space.input)) say(`folder dataset: input ${formatShape(input)} chosen from the images (${s.why}); pass --input CxHxW to choose another`);
  }
  const derived = spaceAt(space, { input, classes: scan.classes.length });
  if (derived.name !== space.name) say(`space: '${derived.name}', ${derived.description}`);
  say(`folder dataset: ${scan.classes.length} classes (${scan.classes.slice(0, 8).join(', ')}${scan.classes.length > 8 ? ', …' : ''}); `
    + `${scan.train.length} train, ${scan.val.length > 0 ? `${scan.val.length} val, ` : ''}${scan.test.length} test images`
    + `${scan.heldOutTest ? ` (${100 * FOLDER_TEST_SHARE}% held out as test by a hash of each path)` : ''}${scan.ignored > 0 ? `; ${scan.ignored} non-image files ignored` : ''}`);
  const dataset = await loadFolder(scan, spec, { shape: derived.input, cacheDir: o.cacheDir, skipBad: o.skipBad, quiet: o.quiet });
  return { dataset, space: derived };
}
