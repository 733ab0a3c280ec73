import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail, LatnasError } from '../errors.js';
import { makeFolders } from './outdir.js';

/** fsync of a folder, so a rename in it survives a power cut; some filesystems refuse it (EINVAL, EISDIR), which costs only that guarantee. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The temporary file's steps around a fill: opened beside `path`, then fsynced, renamed over it and the folder fsynced; on failure removed. */
interface Staged { fd: number; commit(): void; abort(e: unknown, passLatnasErrors?: boolean): never }

function stage(path: string, mode: 'w' | 'w+'): Staged {
  const tmp = `${path}.${process.pid}.tmp`;
  const dir = dirname(path);
  let fd: number | undefined;
  const abort = (e: unknown, passLatnasErrors = false): never => {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (passLatnasErrors && e instanceof LatnasError) throw e;
    return fail(`cannot write '${path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose a writable path`);
  };
  try {
    makeFolders(dir);
    fd = openSync(tmp, mode);
  } catch (e) {
    abort(e);
  }
  return {
    fd: fd!,
    commit: () => {
      fsyncSync(fd!);
      closeSync(fd!);
      fd = undefined;
      renameSync(tmp, path);
      fsyncDir(dir);
    },
    abort,
  };
}

/**
 * Writes a file atomically and durably: a temporary file beside it, written and fsynced, then
 * renamed over the target and the folder fsynced. A reader, a killed run or a power cut sees the
 * old file or the new one, never half of either: without the fsyncs the rename can reach the disk
 * before the data, and a crash leaves an empty or truncated checkpoint under the final name.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  // Chunks are written one after another: a large file need not be joined into one copy first.
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  const s = stage(path, 'w');
  try {
    for (const bytes of chunks) {
      for (let off = 0; off < bytes.length;) off += writeSync(s.fd, bytes, off, bytes.length - off);
    }
    s.commit();
  } catch (e) {
    s.abort(e);
  }
}

/**
 * writeFileAtomic for a file too large to hold in memory: `fill` writes the temporary file through
 * its descriptor (positioned writes, in any order; read-write, as the image cache's compaction
 * reads back what it wrote), then it is committed as above. A `fill` that throws leaves nothing
 * behind, and its error (a LatnasError) passes through.
 */
export async function writeFileAtomicWith(path: string, fill: (fd: number) => Promise<void>): Promise<void> {
  const s = stage(path, 'w+');
  try {
    await fill(s.fd);
    s.commit();
  } catch (e) {
    s.abort(e, true);
  }
}

/** Reads `into.length` bytes at `position` of `fd`; false when the file ends first. */
export function readAt(fd: number, into: Uint8Array, position: number): boolean {
  for (let got = 0; got < into.length;) {
    const n = readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) return false;
    got += n;
  }
  return true;
}

/** Writes all of `bytes` at `position` of `fd`. */
export function writeAt(fd: number, bytes: Uint8Array, position: number): void {
  for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off, position + off);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 1)}\n`);
}

/**
 * Appends one line to a record file (JSON lines) durably: one write with O_APPEND, fsynced before
 * it returns, and the folder fsynced when the file is new, so a record once reported survives a
 * kill or a power cut. A kill mid-write can leave a torn last line: the next append starts on a
 * new line, so the torn part never merges into a record (readers skip or drop that line).
 */
export function appendLineDurable(path: string, line: string): void {
  if (line.includes('\n')) throw new Error('appendLineDurable: the line holds a newline');
  let fd: number | undefined;
  try {
    const dir = dirname(path);
    makeFolders(dir);
    const created = !existsSync(path);
    fd = openSync(path, 'a+');
    const size = fstatSync(fd).size;
    let lead = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) lead = '\n';
    }
    const bytes = Buffer.from(`${lead}${line}\n`, 'utf8');
    for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (created) fsyncDir(dir);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    fail(`cannot append to '${path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose a writable path`);
  }
}
