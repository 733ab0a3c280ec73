import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail } from '../errors.js';
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

/**
 * Writes a file atomically and durably: a temporary file beside it, written and fsynced, then
 * renamed over the target and the folder fsynced. A reader, a killed run or a power cut sees the
 * old file or the new one, never half of either: without the fsyncs the rename can reach the disk
 * before the data, and a crash leaves an empty or truncated checkpoint under the final name.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    const dir = dirname(path);
    makeFolders(dir);
    fd = openSync(tmp, 'w');
    for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    fsyncDir(dir);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    fail(`cannot write '${path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose a writable path`);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 1)}\n`);
}
