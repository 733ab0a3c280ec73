import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fail } from '../errors.js';

export interface FileBytes {
  bytes: Uint8Array;
  /** True when the file was gzip data (decided by its magic bytes, not its name). */
  gzipped: boolean;
}

/** Reads a dataset file, gunzipping it when it starts with the gzip magic 1f 8b. */
export function readMaybeGzip(path: string): FileBytes {
  const raw = readBytes(path);
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return { bytes: raw, gzipped: false };
  try {
    return { bytes: gunzipSync(raw), gzipped: true };
  } catch (e) {
    fail(`dataset file '${path}' starts like gzip but does not decompress (${(e as Error).message}); it is truncated or corrupt, re-download it`);
  }
}

export function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(`dataset file '${path}' cannot be read (${code ?? (e as Error).message}); check the path and permissions`);
  }
}

/** The first existing path of `candidates`, or undefined. */
export function firstExisting(candidates: readonly string[]): string | undefined {
  return candidates.find((p) => existsSync(p));
}
