import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/paths.js';

export const ROOT = PACKAGE_ROOT;
export const TINY_SPACE = join(ROOT, 'test/fixtures/tiny-space.json');

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'latnas-test-'));
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the installed CLI entry point (bin/latnas.js) as a user would. */
export function cli(args: string[], cwd = ROOT): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/latnas.js'), ...args], { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
