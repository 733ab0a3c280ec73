import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, tempDir } from './helpers.js';
import { writeTinyIdx } from './tiny-idx.js';

const BENCH = join(ROOT, 'dist/bench/search-quality.js');
const TABLE = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');

interface Line { kind: string; key: string; method?: string; blocks?: string[]; valAcc?: number; supernetValAcc?: number; testAcc?: number }

/**
 * A tiny study: one target, the random strategy, one sampled arch, the baseline and one uniform
 * arch, two seeds (7 trainings of 2 steps on 320 digits, each tested on 48).
 */
function studyArgs(dir: string, data: string): string[] {
  return [
    BENCH, '--out', join(dir, 'out'), '--work', join(dir, 'work'), '--dataset', data, '--table', TABLE, '--backend', 'wasm',
    '--targets', '1', '--methods', 'random', '--family', 'k3_e1', '--samples', '1', '--seeds', '2',
    '--recipe-epochs', '1', '--recipe-steps', '2', '--batch', '16', '--search-epochs', '1', '--search-steps', '2', '--search-samples', '1',
    '--eval-images', '32', '--calibration-batches', '1',
  ];
}

const resultsFile = (dir: string) => {
  const files = readdirSync(join(dir, 'out')).filter((f) => /^results-[0-9a-f]+\.jsonl$/.test(f));
  assert.equal(files.length, 1, files.join(', '));
  return join(dir, 'out', files[0]!);
};
const records = (text: string): Line[] => text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Line);

/** Runs the study and SIGKILLs it as soon as it starts its second training (the first one recorded). */
function runUntilSecondTraining(args: string[]): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (/train \S+ seed \d+ \[2\/\d+\]: start/.test(stderr)) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ signal, stderr }));
  });
}

test('the study resumes after a kill without redoing a finished piece, and its summary is a function of the results file', async () => {
  const dir = tempDir();
  const data = writeTinyIdx(join(dir, 'data'), 320, 48);
  const args = studyArgs(dir, data);

  const killed = await runUntilSecondTraining(args);
  assert.equal(killed.signal, 'SIGKILL', `the study ended before its second training:\n${killed.stderr}`);
  const path = resultsFile(dir);
  const before = readFileSync(path, 'utf8');
  const first = records(before);
  const trainedBefore = first.filter((r) => r.kind === 'train');
  assert.equal(trainedBefore.length, 1, killed.stderr);
  for (const kind of ['study', 'family', 'sample', 'supernet', 'search', 'score']) assert.ok(first.some((r) => r.kind === kind), `no ${kind} record before the kill`);

  const resumed = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  const after = readFileSync(path, 'utf8');
  // Every record of the killed run is kept as it was, and nothing it finished ran again.
  assert.ok(after.startsWith(before));
  assert.match(resumed.stderr, /train: 1 of 7 trainings already recorded/);
  assert.equal(resumed.stderr.match(/: start \(/g)?.length, 6, resumed.stderr);
  assert.doesNotMatch(resumed.stderr, /supernet: training|search random@1 .*: T =|score /);
  const all = records(after);
  assert.equal(new Set(all.map((r) => r.key)).size, all.length, 'a key was recorded twice');
  assert.equal(all.filter((r) => r.kind === 'train').length, 7);

  // The random search scored with the shared supernet, on the same splits as the score pieces: the same accuracy.
  const searched = all.find((r) => r.kind === 'search')!;
  const score = all.find((r) => r.kind === 'score' && r.blocks!.join() === searched.blocks!.join())!;
  assert.equal(score.valAcc, searched.supernetValAcc);

  const headline = JSON.parse(resumed.stdout.trim().split('\n').pop()!) as { kendallTau: number | null; archsRetrained: number; tauArchs: number; trainings: number };
  assert.equal(headline.trainings, 7);
  assert.equal(headline.tauArchs, headline.archsRetrained);
  assert.ok(headline.archsRetrained >= 3 && headline.kendallTau !== null);
  const summaryPath = join(dir, 'out', 'summary.json');
  const summary = readFileSync(summaryPath, 'utf8');
  const s = JSON.parse(summary) as { targets: Record<string, Record<string, unknown>>; archsRetrained: number; recipe: { results: string } };
  assert.deepEqual(Object.keys(s.targets), ['1']);
  for (const m of ['targetMs', 'random', 'random-sampled', 'mbv2', 'k3_e1', 'dnas', 'evolution']) assert.ok(m in s.targets['1']!, m);
  assert.deepEqual(Object.keys(s.targets['1']!['mbv2'] as object), ['blocks', 'predictedMs', 'mean', 'std', 'n']);
  assert.equal((s.targets['1']!['mbv2'] as { n: number }).n, 2);
  assert.ok(readFileSync(join(dir, 'out', 'pareto.svg'), 'utf8').startsWith('<svg'));
  // The round's own copy, named by the recipe hash of its results file, survives a later round's summary.json.
  const hash = /results-([0-9a-f]+)\.jsonl$/.exec(path)![1]!;
  assert.equal(readFileSync(join(dir, 'out', `summary-${hash}.json`), 'utf8'), summary);

  // A torn last record (a kill mid-append) is dropped, not kept between good ones; with everything done, nothing runs.
  appendFileSync(path, '{"kind":"train","key":"tr');
  const again = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /dropped a torn last record/);
  assert.match(again.stderr, /train: 7 of 7 trainings already recorded/);
  assert.equal(readFileSync(path, 'utf8'), after);

  // --summarize-only rewrites the same summary from the file alone.
  const only = spawnSync(process.execPath, [...args, '--summarize-only'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(only.status, 0, only.stderr);
  assert.equal(readFileSync(summaryPath, 'utf8'), summary);
  assert.equal(s.recipe.results, path.split('/').pop());

  // A study that changes only how the supernet is trained is a new results file that reuses the same trainings.
  const fair = spawnSync(process.execPath, [...args, '--search-sampling', 'fair'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(fair.status, 0, fair.stderr);
  assert.match(fair.stderr, /supernet: training \(FairNAS strict-fairness/);
  // The family's and the sampled arch's trainings (2·2 + 1) are the same trainings; the random search may choose another arch.
  const reused = Number(/train: \d+ of 7 trainings already recorded \((\d+) reused from other results files\)/.exec(fair.stderr)?.[1] ?? 0);
  assert.ok(reused >= 5, fair.stderr);
  assert.equal(fair.stderr.match(/: start \(/g)?.length ?? 0, 7 - reused, fair.stderr);
  const files = readdirSync(join(dir, 'out')).filter((f) => /^results-[0-9a-f]+\.jsonl$/.test(f));
  assert.equal(files.length, 2);
  const fairFile = files.find((f) => join(dir, 'out', f) !== path)!;
  const copied = records(readFileSync(join(dir, 'out', fairFile), 'utf8')).filter((r) => r.kind === 'train') as (Line & { reusedFrom?: string })[];
  assert.equal(copied.length, 7);
  const original = new Map(all.filter((r) => r.kind === 'train').map((r) => [r.key, r.testAcc]));
  const copies = copied.filter((c) => c.reusedFrom !== undefined);
  assert.equal(copies.length, reused);
  for (const c of copies) {
    assert.equal(c.reusedFrom, path.split('/').pop());
    assert.equal(c.testAcc, original.get(c.key));
  }
});

test('bad study options get one line, no stack', () => {
  const r = spawnSync(process.execPath, [BENCH, '--methods', 'dnas,magic'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim(), 'search-quality: --methods dnas,magic: use a comma-separated list of dnas, evolution, random');
});
