/**
 * bench:search-quality --redis: the study's trainings fanned out to two `latnas worker`s give the
 * records the local study gives (same keys, fields and test accuracies), and a rerun finds them
 * all recorded.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startLocalRedis, type LocalRedis } from '../src/queue/local-redis.js';
import { REDIS_SERVER, requireSystem, ROOT, tempDir } from './helpers.js';
import { writeTinyIdx } from './tiny-idx.js';

const skip = requireSystem(REDIS_SERVER);
const BENCH = join(ROOT, 'dist/bench/search-quality.js');
const TABLE = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');

/** The tiny study of test/search-quality.test.ts (7 trainings of 2 steps), on one thread so the results do not depend on the machine. */
function studyArgs(dir: string): string[] {
  return [
    BENCH, '--out', join(dir, 'out'), '--work', join(dir, 'work'), '--dataset', 'idx:data', '--table', TABLE, '--backend', 'wasm', '--workers', '1',
    '--targets', '1', '--methods', 'random', '--family', 'k3_e1', '--samples', '1', '--seeds', '2',
    '--recipe-epochs', '1', '--recipe-steps', '2', '--batch', '16', '--search-epochs', '1', '--search-steps', '2', '--search-samples', '1',
    '--eval-images', '32', '--calibration-batches', '1',
  ];
}

interface Rec { kind: string; key: string; testAcc?: number; [k: string]: unknown }
function trainRecords(dir: string): Rec[] {
  const out = join(dir, 'out');
  const f = readdirSync(out).find((x) => /^results-[0-9a-f]+\.jsonl$/.test(x))!;
  return readFileSync(join(out, f), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Rec).filter((r) => r.kind === 'train');
}

let redis: LocalRedis | undefined;
before(async () => { if (!skip) redis = await startLocalRedis(); });
after(async () => { await redis?.dispose(); });

function worker(url: string, name: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const workdir = tempDir();
  writeTinyIdx(join(workdir, 'data'), 320, 48);
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), 'worker', '--redis', url, '--workdir', workdir, '--name', name], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { if (s.includes('serving')) resolve({ child, stderr: () => err }); });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}): ${err}`)));
  });
}

test('the study\'s trainings on two queue workers: the local study\'s records, and a rerun reuses them', { skip }, async () => {
  const local = tempDir();
  writeTinyIdx(join(local, 'data'), 320, 48);
  const l = spawnSync(process.execPath, studyArgs(local), { cwd: local, encoding: 'utf8' });
  assert.equal(l.status, 0, l.stderr);

  const queued = tempDir();
  writeTinyIdx(join(queued, 'data'), 320, 48);
  const ws = await Promise.all([worker(redis!.url, 'qa'), worker(redis!.url, 'qb')]);
  try {
    const run = () => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [...studyArgs(queued), '--redis', redis!.url], { cwd: queued, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      c.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
      c.on('close', (code) => resolve({ code, stderr }));
    });
    const q = await run();
    assert.equal(q.code, 0, q.stderr);
    const mine = trainRecords(queued), theirs = trainRecords(local);
    assert.equal(mine.length, 7);
    const byKey = new Map(theirs.map((r) => [r.key, r]));
    for (const r of mine) {
      const t = byKey.get(r.key);
      assert.ok(t, `no local record ${r.key}`);
      assert.deepEqual(Object.keys(r).sort(), Object.keys(t).sort());
      assert.equal(r.testAcc, t.testAcc, r.key);
    }
    // The artifacts are in the study's run folders, as the local trainer leaves them.
    const trainDirs = readdirSync(join(queued, 'work')).map((h) => join(queued, 'work', h, 'train')).filter((d) => existsSync(d));
    const runs = trainDirs.flatMap((t) => readdirSync(t).map((d) => join(t, d)));
    assert.equal(runs.length, 7);
    for (const d of runs) assert.ok(existsSync(join(d, 'weights.bin')) && existsSync(join(d, 'metrics.json')), d);
    for (const w of ws) assert.match(w.stderr(), /: done in/, 'each worker trained');

    const again = await run();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /train: 7 of 7 trainings already recorded/);
    assert.equal(trainRecords(queued).length, 7);
  } finally {
    await Promise.all(ws.map((w) => new Promise<void>((r) => { w.child.once('exit', () => r()); w.child.kill('SIGTERM'); })));
  }
});

test('latnas run --redis: the top candidates x seeds retrained on two workers, the best by validation accuracy exported', { skip }, async () => {
  const ws = await Promise.all([worker(redis!.url, 'ra'), worker(redis!.url, 'rb')]);
  try {
    const out = join(tempDir(), 'run');
    const args = [join(ROOT, 'bin/latnas.js'), 'run', '--out', out, '--space', 'fbnet-mini', '--dataset', 'mnist', '--backend', 'wasm', '--workers', '1',
      '--table', join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json'), '--strategy', 'random', '--search-epochs', '1', '--search-steps', '4',
      '--train-steps', '6', '--samples', '2', '--eval-images', '64', '--redis', redis!.url, '--retrain-top', '2', '--retrain-seeds', '2'];
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, args, { cwd: tempDir(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      c.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
      c.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    const cands = JSON.parse(readFileSync(join(out, 'train/candidates.json'), 'utf8')) as {
      best: { blocks: string[]; seed: number }; runs: { blocks: string[]; seed: number; valAcc: number; testAcc: number; worker: string }[];
    };
    assert.equal(cands.runs.length, 4);
    assert.deepEqual(new Set(cands.runs.map((x) => x.seed)), new Set([1, 2]));
    const best = cands.runs.find((x) => x.blocks.join() === cands.best.blocks.join() && x.seed === cands.best.seed)!;
    assert.equal(best.valAcc, Math.max(...cands.runs.map((x) => x.valAcc)));
    const metrics = JSON.parse(readFileSync(join(out, 'train/metrics.json'), 'utf8')) as { testAcc: number; seed: number };
    assert.equal(metrics.testAcc, best.testAcc);
    assert.equal(metrics.seed, best.seed);
    const arch = JSON.parse(readFileSync(join(out, 'train/arch.json'), 'utf8')) as { blocks: string[]; lut?: unknown };
    assert.ok(arch.lut, 'the searched table is recorded with the arch, as a local training records it');
    assert.ok(existsSync(join(out, 'model.onnx')));
    const state = JSON.parse(readFileSync(join(out, 'pipeline.json'), 'utf8')) as { options: Record<string, unknown> };
    assert.equal(state.options['retrain'], '2x2');
    assert.doesNotMatch(JSON.stringify(state), /redis:/, 'the Redis URL is not recorded');
  } finally {
    await Promise.all(ws.map((w) => new Promise<void>((r) => { w.child.once('exit', () => r()); w.child.kill('SIGTERM'); })));
  }
});
