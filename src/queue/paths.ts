/**
 * Path checks of the worker: a payload names files relative to --workdir, and nothing it names
 * may resolve outside it, through `..`, an absolute path, or a symlink inside the workdir that
 * points elsewhere. Checked on the real paths (realpath) of what exists.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fail } from '../errors.js';
import { realPath } from '../util/outputs.js';

/** True when `p` is `root` or lies below it (both absolute and normalised). */
function within(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/** The workdir as an absolute real path, created if missing. */
export function openWorkdir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return realpathSync(resolve(dir));
}

/**
 * `rel` (a payload's path) resolved inside `workdir`; one line naming `field` when it is absolute
 * or escapes, before anything is read or written.
 */
export function insideWorkdir(workdir: string, rel: string, field: string): string {
  if (isAbsolute(rel) || rel.includes('\0')) fail(`job field '${field}': '${rel}' must be a path relative to the worker's --workdir`);
  const p = resolve(workdir, rel);
  if (!within(workdir, p) || !within(workdir, realPath(p))) fail(`job field '${field}': '${rel}' resolves outside the worker's --workdir; the worker reads and writes only inside it`);
  return p;
}

/** A dataset spec with its DIR resolved inside the workdir (built-in names unchanged). */
export function datasetInside(workdir: string, spec: string, field = 'dataset'): string {
  const m = /^(idx|cifar10|folder):(.*)$/.exec(spec);
  if (!m) return spec;
  return `${m[1]}:${insideWorkdir(workdir, m[2]!, field)}`;
}
