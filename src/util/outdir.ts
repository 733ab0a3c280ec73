/**
 * Output paths, checked before any long work starts: every command that writes a folder
 * (`train`, `search`, `run`) or a file (`export`, `profile`, `build`, `lut-check --out`) goes
 * through here, so an `--out` that is an existing file, lies under a file, or sits on a read-only
 * mount fails with one line instead of a stack trace minutes later.
 *
 * Writability is tested with a probe file, not access(W_OK): root passes access() on read-only
 * mounts such as /proc. Folders are created one level at a time: Node's recursive mkdir loops
 * forever on some of those mounts (mkdir('/proc/x', {recursive: true}) never returns).
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fail } from '../errors.js';

const why = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

export function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The nearest existing ancestor of `abs` (an absolute path), and the missing folders below it, top first. */
function existingAncestor(abs: string): { folder: string; missing: string[] } {
  const missing: string[] = [];
  let p = abs;
  while (!existsSync(p)) {
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return { folder: p, missing };
}

/** Fails unless a file can be created in the existing folder `dir`. */
function probe(dir: string, label: string, flag: string): void {
  const file = join(dir, `.latnas-probe-${process.pid}`);
  try {
    writeFileSync(file, '');
  } catch (e) {
    fail(`${label}: folder '${dir}' is not writable (${why(e)}); choose a writable ${flag}`);
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * Creates folder `dir` and its missing parents, one level at a time (see the file comment).
 * Throws the file system's error (for callers with their own message); an existing folder is fine.
 */
export function makeFolders(dir: string): void {
  for (const p of existingAncestor(resolve(dir)).missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !isFolder(p)) throw e;
    }
  }
}

/** Checks that folder `dir` exists and is writable, or can be created; creates nothing. */
export function checkOutputFolder(dir: string, flag = '--out'): void {
  const label = `${flag} '${dir}'`;
  const abs = resolve(dir);
  if (existsSync(abs) && !isFolder(abs)) fail(`${label} is a file, not a folder; give a folder path (e.g. runs/NAME) or remove the file`);
  const { folder } = existingAncestor(abs);
  if (!isFolder(folder)) fail(`${label}: '${folder}' is a file, not a folder, so nothing can be created under it; choose another ${flag}`);
  probe(folder, label, flag);
}

/**
 * The "prepare output folder" step of every command that writes a run folder: fails with one
 * line (naming the flag, the path and the fix) when `dir` cannot be a writable folder, else
 * creates it. Returns `dir`.
 */
export function prepareOutputFolder(dir: string, flag = '--out'): string {
  checkOutputFolder(dir, flag);
  try {
    makeFolders(dir);
  } catch (e) {
    fail(`${flag} '${dir}': the folder cannot be created (${why(e)}); choose a writable ${flag}`);
  }
  return dir;
}

/**
 * Checks, before any work, that file `path` can be written: not a folder, and its folder exists
 * and is writable or can be created. Creates nothing (a failed command leaves nothing behind);
 * writeFileAtomic makes the folder when the file is written.
 */
export function checkOutputFile(path: string, flag = '--out', example = 'model.onnx'): void {
  const label = `${flag} '${path}'`;
  const abs = resolve(path);
  if (isFolder(abs)) fail(`${label} is a folder; give a file path such as ${join(path, example)}`);
  const { folder } = existingAncestor(dirname(abs));
  if (!isFolder(folder)) fail(`${label}: '${folder}' is a file, not a folder, so nothing can be created under it; choose another ${flag}`);
  probe(folder, label, flag);
}
