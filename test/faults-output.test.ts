/**
 * `--out` paths that cannot be written: an existing file where a folder is wanted, a folder
 * where a file is wanted, a path under a file, a read-only mount. Every command that writes
 * fails with one `latnas:` line naming the path and the fix, before any work and never with a
 * stack trace (the unguarded mkdir of train, search and run threw, and Node's recursive mkdir
 * never returns under /proc).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LatnasError } from '../src/errors.js';
import { checkOutputFile, checkOutputFolder, prepareOutputFolder } from '../src/util/outdir.js';
import { writeFileAtomic } from '../src/util/files.js';
import { cli, ROOT, stderrLines, tempDir } from './helpers.js';

const dir = tempDir();
const file = join(dir, 'a-file');
writeFileSync(file, 'x');
const folder = join(dir, 'a-folder');
mkdirSync(folder);
// /proc takes no new files, even for root (whom access(W_OK) lets through).
const readOnly = '/proc/latnas-out';

function oneLine(args: string[], pattern: RegExp): void {
  const r = cli(args);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
  const lines = stderrLines(r.stderr);
  assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
  assert.match(lines[0]!, /^latnas: /);
  assert.match(lines[0]!, pattern);
}

test('the shared helper: folders and files', () => {
  const made = join(dir, 'new/run/folder');
  assert.equal(prepareOutputFolder(made), made);
  assert.ok(existsSync(made));
  prepareOutputFolder(made); // an existing folder is fine
  checkOutputFile(join(dir, 'not/yet/model.onnx'));
  assert.ok(!existsSync(join(dir, 'not')), 'checking a file path creates nothing');
  const refused = (fn: () => void, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof LatnasError && !/\n/.test(e.message) && pattern.test(e.message));
  refused(() => prepareOutputFolder(file), /^--out '.*a-file' is a file, not a folder; give a folder path/);
  refused(() => checkOutputFolder(join(file, 'x')), /^--out '.*a-file\/x': '.*a-file' is a file, not a folder, so nothing can be created under it; choose another --out$/);
  refused(() => prepareOutputFolder(join(readOnly, 'deeper')), /^--out '\/proc\/latnas-out\/deeper': folder '\/proc' is not writable \(\w+\); choose a writable --out$/);
  refused(() => checkOutputFile(folder, '--out', 'model.onnx'), /^--out '.*a-folder' is a folder; give a file path such as .*a-folder\/model\.onnx$/);
  refused(() => checkOutputFile(`${readOnly}.json`), /folder '\/proc' is not writable/);
  // writeFileAtomic creates folders through the same helper: under /proc it fails at once instead of hanging.
  refused(() => writeFileAtomic(join(readOnly, 'x.json'), '{}'), /^cannot write '\/proc\/latnas-out\/x\.json'/);
});

test('train, search and run: --out that is a file, under a file, or read-only', () => {
  const arch = Array(12).fill('k3_e6').join(',');
  const train = (out: string) => ['train', '--space', 'fbnet-mini', '--arch', arch, '--dataset', 'mnist', '--out', out, '--epochs', '1', '--max-steps', '1', '--backend', 'wasm', '--quiet'];
  const search = (out: string) => [
    'search', '--table', join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json'), '--dataset', 'mnist', '--out', out, '--epochs', '1', '--steps-per-epoch', '1',
    '--backend', 'wasm', '--quiet',
  ];
  const run = (out: string) => ['run', '--out', out, '--dataset', 'mnist', '--backend', 'wasm', '--quiet'];
  for (const command of [train, search, run]) {
    oneLine(command(file), /--out '.*a-file' is a file, not a folder; give a folder path/);
    oneLine(command(join(file, 'run')), /--out '.*a-file\/run': '.*a-file' is a file, not a folder, so nothing can be created under it/);
    oneLine(command(readOnly), /--out '\/proc\/latnas-out': folder '\/proc' is not writable/);
  }
});

test('export, build, profile and lut-check: file outputs', () => {
  const arch = Array(12).fill('k3_e6').join(',');
  oneLine(['export', '--run', dir, '--out', folder], /--out '.*a-folder' is a folder; give a file path such as .*model\.onnx/);
  oneLine(['export', '--run', dir, '--out', join(file, 'model.onnx')], /'.*a-file' is a file, not a folder/);
  oneLine(['export', '--run', dir, '--out', `${readOnly}.onnx`], /folder '\/proc' is not writable/);
  mkdirSync(join(dir, 'rep/model.export.json'), { recursive: true });
  oneLine(['export', '--run', dir, '--out', join(dir, 'rep/model.onnx')], /its report '.*model\.export\.json' would replace a folder/);
  oneLine(['build', '--space', 'fbnet-mini', '--arch', arch, '--out', folder], /--out '.*a-folder' is a folder; give a file path such as .*net\.onnx/);
  oneLine(['build', '--space', 'fbnet-mini', '--arch', arch, '--out', join(readOnly, 'net.onnx')], /folder '\/proc' is not writable/);
  oneLine(['profile', '--device', 'ort-cpu-1t', '--space', 'fbnet-mini', '--out', join(file, 't.json')], /'.*a-file' is a file, not a folder/);
  oneLine(['profile', '--device', 'ort-cpu-1t', '--space', 'fbnet-mini', '--out', folder], /is a folder; give a file path such as .*table\.json/);
  oneLine(['lut-check', '--device', 'ort-cpu-1t', '--space', 'fbnet-mini', '--samples', '2', '--out', `${readOnly}.json`], /folder '\/proc' is not writable/);
});
