/**
 * Issue 11, group 3: no finished work or input is ever overwritten. Outputs that resolve to an
 * input are refused, run folders are locked against a second process (a dead owner's lock is
 * taken over, Ctrl-C releases it), a resume with other settings is refused, `latnas run`
 * validates before its first write, and atomic writes reach the disk before the rename.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs, { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../src/util/files.js';
import { FOLDER_LOCK } from '../src/util/lock.js';
import { cli, ROOT, tempDir } from './helpers.js';

const SPACE = join(ROOT, 'test/fixtures/tiny28-space.json');
const ARCH = 'k3_e3_g2,k5_e3_se0.25_hs';
const trainArgs = (out: string, ...more: string[]) => ['train', '--space', SPACE, '--arch', ARCH, '--dataset', 'mnist', '--out', out, '--backend', 'wasm', '--batch', '32', '--quiet', ...more];
const REFUSED = /^latnas: --out '.*' would overwrite .*; choose another --out, inputs are never overwritten\n$/;

/** Resolves once `path` exists (or fails after `ms`). */
async function waitFor(path: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} never appeared`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('no input or finished work is overwritten, and a run folder has one writer at a time', async () => {
  const dir = tempDir();

  // --- --out onto an input, found through realpath: the same path, a symlinked folder, ../ detours.
  const arch = join(dir, 'a.json');
  writeFileSync(arch, JSON.stringify({ space: 'tiny28', blocks: ARCH.split(',') }));
  const archBefore = readFileSync(arch);
  const b1 = cli(['build', '--space', SPACE, '--arch', arch, '--out', arch]);
  assert.equal(b1.code, 1);
  assert.match(b1.stderr, REFUSED);
  symlinkSync(dir, join(dir, 'link'));
  const b2 = cli(['build', '--space', SPACE, '--arch', arch, '--out', join(dir, 'link', 'new', '..', 'a.json')]);
  assert.equal(b2.code, 1);
  assert.match(b2.stderr, /would overwrite the --arch file/);
  assert.deepEqual(readFileSync(arch), archBefore);
  assert.equal(cli(['build', '--space', SPACE, '--arch', arch, '--out', join(dir, 'link', 'net.onnx')]).code, 0, 'a fresh output was refused');

  // 40 fit networks: with a dozen the fitted per-network overhead can come out negative, which the table check refuses.
  const table = join(dir, 'tiny28.json');
  const p = cli(['profile', '--device', 'ort-cpu-1t', '--space', SPACE, '--out', table, '--rounds', '4', '--runs', '4', '--fit-nets', '40', '--chunk', '4', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(existsSync(`${table}.lock`), false, 'the table lock outlived the profile');
  const tableBefore = readFileSync(table);
  const lc = cli(['lut-check', '--device', 'ort-cpu-1t', '--space', SPACE, '--table', table, '--out', join(dir, 'link', 'tiny28.json'), '--samples', '2']);
  assert.equal(lc.code, 1);
  assert.match(lc.stderr, /would overwrite the --table file/);
  assert.deepEqual(readFileSync(table), tableBefore);

  // A trained run: export may not land on its weights, and --resume may not change its settings.
  const run = join(dir, 'run');
  const t = cli(trainArgs(run, '--epochs', '1', '--max-steps', '5'));
  assert.equal(t.code, 0, t.stderr);
  const weights = readFileSync(join(run, 'weights.bin'));
  const ex = cli(['export', '--run', run, '--out', join(run, 'weights.bin'), '--no-latency', '--quiet']);
  assert.equal(ex.code, 1);
  assert.match(ex.stderr, /would overwrite the --run folder's weights\.bin/);
  assert.deepEqual(readFileSync(join(run, 'weights.bin')), weights);
  // train --out DIR writes DIR/arch.json: the --arch file of that name is an input.
  const job = join(dir, 'job');
  mkdirSync(job);
  writeFileSync(join(job, 'arch.json'), archBefore);
  const inside = cli(trainArgs(job, '--epochs', '1', '--max-steps', '5').map((a) => (a === ARCH ? join(job, 'arch.json') : a)));
  assert.equal(inside.code, 1, 'train --out over the folder holding its --arch file was allowed');
  assert.match(inside.stderr, /^latnas: --out '.*job' would overwrite the --arch file '.*job\/arch\.json' \(it writes '.*job\/arch\.json'\)/);
  const changed = cli(trainArgs(run, '--epochs', '2', '--max-steps', '5', '--resume', '--lr', '0.2'));
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /^latnas: cannot resume '.*': the training settings changed \(lr was 0\.05, now 0\.2\); rerun with the original settings or choose another --out\n$/);

  // --- Locks. A second train on a folder in use is refused; Ctrl-C releases the lock.
  const busy = join(dir, 'busy');
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), ...trainArgs(busy, '--epochs', '1', '--max-steps', '100000')], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  await waitFor(join(busy, FOLDER_LOCK));
  const second = cli(trainArgs(busy, '--epochs', '1', '--max-steps', '5'));
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`^latnas: run folder '.*busy' is in use by process ${child.pid} \\(latnas train, since [^)]+\\); wait for it to finish or choose another --out .*\\n$`));
  child.kill('SIGINT');
  assert.equal(await exited, 'SIGINT');
  assert.equal(existsSync(join(busy, FOLDER_LOCK)), false, 'SIGINT left the lock behind');

  // A lock whose process is gone (killed with SIGKILL, say) is taken over, and said so.
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const stale = join(dir, 'stale');
  mkdirSync(stale);
  writeFileSync(join(stale, FOLDER_LOCK), JSON.stringify({ pid: dead, host: (await import('node:os')).hostname(), command: 'latnas train', started: '2026-01-01T00:00:00.000Z' }));
  const took = cli(trainArgs(stale, '--epochs', '1', '--max-steps', '3'));
  assert.equal(took.code, 0, took.stderr);
  assert.match(took.stderr, new RegExp(`^latnas: taking over the stale lock '.*${FOLDER_LOCK}' of run folder '.*stale': ` +
    `process ${dead} \\(latnas train, since 2026-01-01T00:00:00.000Z\\) is no longer running\\n$`));
  assert.equal(existsSync(join(stale, FOLDER_LOCK)), false);

  // --- latnas run checks the target, the table and the dataset before its first write.
  const TINY = ['--space', SPACE, '--dataset', 'mnist', '--backend', 'wasm', '--search-epochs', '1', '--search-steps', '4', '--train-steps', '20', '--samples', '2', '--eval-images', '64', '--quiet'];
  const never = join(dir, 'never');
  for (const [args, why] of [
    [['--table', table, '--target-ms', '0.00001'], /--target-ms 0\.00001 is infeasible: the fastest arch of space 'tiny28' is predicted at [\d.]+ ms/],
    [['--table', table, '--device', 'ort-wasm'], /was made for device 'ort-cpu-1t', not 'ort-wasm'/],
    [['--table', table, '--batch', '7000'], /--batch 7000 is larger than the 5760 images/],
  ] as const) {
    const r = cli(['run', '--out', never, ...TINY, ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, why);
    assert.equal(existsSync(never), false, `a refused run wrote its folder (${args.join(' ')})`);
  }
  // A folder whose lut stage alone is done takes a corrected target (the infeasible one is refused, not recorded)...
  const partial = join(dir, 'partial');
  mkdirSync(partial);
  const options = {
    device: 'ort-cpu-1t', space: SPACE, table, target: 'baseline', dataset: 'mnist', strategy: 'dnas', searchEpochs: 1, searchSteps: 4, trainEpochs: 1,
    trainSteps: 20, evalImages: 64, samples: 2, batch: 32, lr: 0.1, quantize: null, seed: 1,
  };
  writeFileSync(join(partial, 'pipeline.json'), JSON.stringify({ version: 1, options, stages: { lut: { done: true, seconds: 1, path: table, reused: true } } }));
  const bad = cli(['run', '--out', partial, ...TINY, '--table', table, '--target-ms', '0.00001']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /is infeasible/);
  assert.equal(JSON.parse(readFileSync(join(partial, 'pipeline.json'), 'utf8')).options.target, 'baseline', 'the refused target was recorded');
  // ...but once the search has started, its settings are fixed.
  mkdirSync(join(partial, 'search'));
  const fixed = cli(['run', '--out', partial, ...TINY, '--table', table, '--target-ms', '0.05']);
  assert.equal(fixed.code, 1);
  assert.match(fixed.stderr, /^latnas: run folder '.*' holds a pipeline with other settings \(target was "baseline", now 0\.05\); rerun with the original settings or choose another --out\n$/);

  // --- writeFileAtomic: the data is fsynced before the rename, the folder after it.
  const events: string[] = [];
  const { fsyncSync, renameSync } = fs;
  fs.fsyncSync = (fd: number) => { events.push(fs.fstatSync(fd).isDirectory() ? 'fsync folder' : 'fsync file'); fsyncSync(fd); };
  fs.renameSync = (a: fs.PathLike, b: fs.PathLike) => { events.push('rename'); renameSync(a, b); };
  syncBuiltinESMExports();
  try {
    writeFileAtomic(join(dir, 'atomic.txt'), 'hello');
  } finally {
    fs.fsyncSync = fsyncSync;
    fs.renameSync = renameSync;
    syncBuiltinESMExports();
  }
  assert.deepEqual(events, ['fsync file', 'rename', 'fsync folder']);
  assert.equal(readFileSync(join(dir, 'atomic.txt'), 'utf8'), 'hello');
});
