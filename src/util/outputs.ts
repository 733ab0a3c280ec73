/**
 * No command may write over its own input: `--out` equal to `--table`, an export into the run's
 * weights.bin, a build over its arch file. Every command with an output checks here, before any
 * work, that none of the paths it will write is one of the paths it reads. Paths are compared
 * where they are on disk: symlinks resolved (realpath), and an output that does not exist yet by
 * its nearest existing folder, so `out/../a.json` and a symlinked folder do not slip through;
 * hard links by device and inode.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fail } from '../errors.js';

/**
 * A path a command reads, and how to name it in a message (e.g. "the --table file"); `tree`:
 * everything under it is read (a folder of images: a run folder inside it would become a class).
 */
export interface Input { what: string; path: string; tree?: boolean }

/** A path a command writes; `tree`: everything under it is the command's (a run's search/ folder). */
export interface Written { path: string; tree?: boolean }

/** `p` as it is on disk: realpath of the path, or of its nearest existing ancestor plus the rest. */
export function realPath(p: string): string {
  let head = resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...rest);
    } catch {
      const up = dirname(head);
      if (up === head) return join(head, ...rest);
      rest.unshift(basename(head));
      head = up;
    }
  }
}

function sameFile(a: string, b: string): boolean {
  if (realPath(a) === realPath(b)) return true;
  if (!existsSync(a) || !existsSync(b)) return false;
  const sa = statSync(a), sb = statSync(b);
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

function inside(child: string, tree: string): boolean {
  const r = relative(realPath(tree), realPath(child));
  return r !== '' && r !== '..' && !r.startsWith(`..${sep}`) && !r.startsWith(sep);
}

/**
 * Fails with one line when writing `written` (what `option` = `out` makes the command write)
 * would replace an input. Inputs that are undefined (a built-in name, not a file) are skipped.
 */
export function refuseOverwritingInputs(option: string, out: string, written: readonly Written[], inputs: readonly (Input | undefined)[]): void {
  for (const input of inputs) {
    if (!input) continue;
    for (const w of written) {
      if (sameFile(w.path, input.path) || (w.tree && inside(input.path, w.path)) || (input.tree && inside(w.path, input.path))) {
        const via = resolve(w.path) === resolve(out) ? '' : ` (it writes '${w.path}')`;
        fail(`${option} '${out}' would overwrite ${input.what} '${input.path}'${via}; choose another ${option}, inputs are never overwritten`);
      }
    }
  }
}

/** An input named by a command-line value: a path when it exists on disk (else a built-in name, which no output can replace). */
export function inputFile(what: string, value: string | undefined): Input | undefined {
  return value !== undefined && existsSync(value) ? { what, path: value } : undefined;
}

/** The folder a dataset spec reads (idx:DIR, cifar10:DIR), if any. */
export function datasetInput(spec: string | undefined): Input | undefined {
  const m = spec === undefined ? null : /^(idx|cifar10|folder):(.+)$/.exec(spec);
  const input = m ? inputFile(`the --dataset folder`, m[2]) : undefined;
  // Every file under a folder of images is read: nothing may be written inside it.
  return input && m![1] === 'folder' ? { ...input, tree: true } : input;
}

/** The files of a run folder a command reads, as inputs. */
export function runFolderInputs(dir: string, files: readonly string[], what: string): Input[] {
  return [{ what, path: dir }, ...files.map((f) => ({ what: `${what}'s ${f}`, path: join(dir, f) })).filter((i) => existsSync(i.path))];
}

/** A run folder and the files a command writes in it, as outputs. */
export function folderOutputs(dir: string, files: readonly string[]): Written[] {
  return [{ path: dir }, ...files.map((f) => ({ path: join(dir, f) }))];
}
