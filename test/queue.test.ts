/**
 * The job queue (src/queue/) on a real redis-server: two workers and a coordinator, a worker
 * SIGKILLed mid-training (the job finishes on the other with the result of an uninterrupted
 * local run), Redis stopped and restarted mid-run, malformed payloads and paths outside the
 * workdir (one line each, the worker keeps serving), and a device farm profiling two devices
 * from one command. Trainings are tiny (320 digits, a few steps) and use one thread (workers: 1),
 * so a given seed gives the same weights on every worker.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Queue, QueueEvents } from 'bullmq';
import { loadFolder, scanFolder } from '../src/datasets/folder.js';
import { loadDataset } from '../src/datasets/load.js';
import { writeImageFolder } from '../src/datasets/write-folder.js';
import { LatnasError } from '../src/errors.js';
import { loadLut } from '../src/lut/lut.js';
import { checkRedis, parseRedisUrl, redactUrl } from '../src/queue/connection.js';
import { Coordinator } from '../src/queue/coordinator.js';
import { COMPUTE_QUEUE, jobId, parseJob, QUEUE_PREFIX, queueDatasetProblem, type ScoreJob, type TrainJob } from '../src/queue/jobs.js';
import { startLocalRedis, type LocalRedis } from '../src/queue/local-redis.js';
import { insideWorkdir, openWorkdir } from '../src/queue/paths.js';
import { trainSpec, writeTrainRun } from '../src/queue/specs.js';
import { search, SEARCH_DEFAULTS } from '../src/search/search.js';
import { resolveArch } from '../src/space/arch.js';
import { loadSpace } from '../src/space/spaces.js';
import { initBackend } from '../src/train/backend.js';
import { train } from '../src/train/trainer.js';
import { cli, OPENSSL, REDIS_SERVER, requireSystem, ROOT, stderrLines, tempDir, TINY_SPACE } from './helpers.js';
import { tinyDigits, writeTinyIdx } from './tiny-idx.js';

const skip = requireSystem(REDIS_SERVER);
const space = loadSpace('fbnet-mini');
const ARCH = Array(12).fill('k3_e1') as string[];
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

function spec(seed: number, o: { epochs?: number; maxSteps?: number; dataset?: string } = {}): TrainJob {
  return trainSpec({
    space, blocks: ARCH, dataset: o.dataset ?? 'idx:data', seed, backend: 'wasm', workers: 1, epochs: o.epochs ?? 1, maxSteps: o.maxSteps ?? 2, batch: 16, lr: 0.05,
  });
}

interface Proc { child: ChildProcess; name: string; workdir: string; stderr: () => string; stop(signal?: NodeJS.Signals): Promise<void> }

/** A `latnas worker` process with its own workdir (holding the tiny dataset as data/), resolved once it says it serves. */
async function startWorker(url: string, name: string, extra: string[] = [], withData = true, env?: NodeJS.ProcessEnv): Promise<Proc> {
  const workdir = tempDir();
  if (withData) writeTinyIdx(join(workdir, 'data'), 320, 48);
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), 'worker', '--redis', url, '--workdir', workdir, '--name', name, '--lock-seconds', '3', ...extra],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '', err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (out.includes('serving')) { clearInterval(check); resolve(); }
      if (child.exitCode !== null) { clearInterval(check); reject(new Error(`worker ${name} exited: ${err}`)); }
    }, 20);
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await exited;
  };
  return { child, name, workdir, stderr: () => err, stop };
}

/** The same training run locally in this process, as `latnas train` would: the reference result. */
async function localRun(s: TrainJob, dataDir: string): Promise<{ testAcc: number; weights: Buffer }> {
  const out = join(tempDir(), 'run');
  const dataset = { ...loadDataset(`idx:${dataDir}`), spec: s.dataset };
  const backend = await initBackend('wasm');
  const r = await train({
    space, blocks: resolveArch(space, s.blocks), dataset, out, ...s.recipe, maxSteps: s.recipe.maxSteps ?? undefined, seed: s.seed,
    resume: false, quiet: true, backend: backend.name, workers: 1,
  });
  return { testAcc: r.testAcc, weights: readFileSync(join(out, 'weights.bin')) };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 50));
}

test('Redis URLs: password and TLS, never printed', () => {
  const t = parseRedisUrl('rediss://user:s3cret%21@cache.example:6380/2');
  assert.equal(t.options.password, 's3cret!');
  assert.equal(t.options.username, 'user');
  assert.equal(t.options.port, 6380);
  assert.equal(t.options.db, 2);
  assert.ok(t.options.tls);
  assert.equal(t.options.maxRetriesPerRequest, null);
  assert.doesNotMatch(t.shown, /s3cret/);
  assert.doesNotMatch(redactUrl('redis://:hunter2@h:1'), /hunter2/);
  assert.equal(parseRedisUrl('redis://localhost').options.tls, undefined);
  assert.throws(() => parseRedisUrl('http://:pw@h:1'), (e: Error) => e instanceof LatnasError && /redis:\/\/ or rediss:\/\//.test(e.message) && !/pw/.test(e.message));
  assert.throws(() => parseRedisUrl('redis://h/x'), /database number/);
});

test('job ids: the hash of the canonical spec', () => {
  const a = spec(1);
  const reordered = { ...Object.fromEntries(Object.entries(a).reverse()), recipe: Object.fromEntries(Object.entries(a.recipe).reverse()) } as TrainJob;
  assert.notEqual(JSON.stringify(reordered), JSON.stringify(a));
  assert.equal(jobId(reordered), jobId(a));
  assert.notEqual(jobId(spec(2)), jobId(a));
  assert.match(jobId(a), /^train-[0-9a-f]{64}$/);
  const bad = parseJob({ ...a, recipe: { ...a.recipe, lr: -1 } });
  assert.ok(!bad.ok && /^malformed job: field 'recipe\.lr': /.test(bad.error) && !bad.error.includes('\n'), JSON.stringify(bad));
  assert.ok(!parseJob({ ...a, dataset: 'idx:/etc' }).ok);
  assert.ok(!parseJob({ ...a, extra: 1 }).ok);
});

test('workdir paths: nothing outside it, through .., absolute paths or symlinks', () => {
  const wd = openWorkdir(join(tempDir(), 'wd'));
  const outside = tempDir();
  symlinkSync(outside, join(wd, 'link'));
  mkdirSync(join(wd, 'data'));
  assert.equal(insideWorkdir(wd, 'data', 'dataset'), join(wd, 'data'));
  assert.equal(insideWorkdir(wd, 'data/new/file', 'dataset'), join(wd, 'data/new/file'));
  assert.throws(() => insideWorkdir(wd, '../x', 'dataset'), /job field 'dataset': '\.\.\/x' resolves outside the worker's --workdir/);
  assert.throws(() => insideWorkdir(wd, '/etc', 'dataset'), /must be a path relative/);
  assert.throws(() => insideWorkdir(wd, 'link/a', 'dataset'), /resolves outside/);
  assert.throws(() => insideWorkdir(wd, 'data/../../x', 'dataset'), /resolves outside/);
});

let redis: LocalRedis | undefined;
before(async () => { if (!skip) redis = await startLocalRedis({ appendonly: true }); });
after(async () => { await redis?.dispose(); });

test('Redis with a password: reachable with it, refused without, and the password never in a message', { skip }, async () => {
  const secret = 'pw-Zq81x';
  const r = await startLocalRedis({ password: secret });
  try {
    await checkRedis(parseRedisUrl(r.url));
    const wrong = r.url.replace(secret, 'nope-nope');
    await assert.rejects(checkRedis(parseRedisUrl(wrong), 2000), (e: Error) => e instanceof LatnasError && !e.message.includes('nope-nope') && /cannot reach Redis/.test(e.message));
  } finally {
    await r.dispose();
  }
});

test('two workers share the trainings; a resubmitted spec reuses its result; artifacts equal a local run', { skip }, async () => {
  const url = redis!.url;
  const w1 = await startWorker(url, 'w1');
  const w2 = await startWorker(url, 'w2');
  const c = new Coordinator(parseRedisUrl(url));
  try {
    const specs = [1, 2, 3, 4].map((s) => spec(s));
    const results = await c.run(specs, { label: 'train', quiet: true });
    assert.equal(results.length, 4);
    assert.deepEqual(new Set(results.map((r) => r.worker)), new Set(['w1', 'w2']), 'both workers took jobs');
    // The coordinator's run folder gets the files train() writes; weights equal a local run's to the byte.
    const out = join(tempDir(), 'run');
    writeTrainRun(out, results[0]!.result);
    const local = await localRun(specs[0]!, join(w1.workdir, 'data'));
    assert.equal(results[0]!.result.testAcc, local.testAcc);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(local.weights));
    for (const f of ['arch.json', 'space.json', 'metrics.json']) assert.ok(existsSync(join(out, f)), f);

    const started = () => (w1.stderr() + w2.stderr()).match(/: started/g)?.length ?? 0;
    const before = started();
    const again = await c.run(specs, { label: 'again', quiet: true });
    assert.deepEqual(again.map((r) => r.result.testAcc), results.map((r) => r.result.testAcc));
    assert.equal(started(), before, 'no job ran again');
  } finally {
    await c.close();
    await Promise.all([w1.stop(), w2.stop()]);
  }
});

test('SIGKILL a worker mid-training: the job finishes on the other, as an uninterrupted local run', { skip }, async () => {
  const url = redis!.url;
  const s = spec(11, { epochs: 6, maxSteps: 12 });
  const a = await startWorker(url, 'a');
  const c = new Coordinator(parseRedisUrl(url));
  try {
    const done = c.run([s], { label: 'train', quiet: true });
    // Killed once its first epoch's checkpoint is written: mid-training, with work to lose.
    const checkpoint = join(a.workdir, 'jobs', jobId(s), 'run', 'checkpoint.bin');
    await until(() => existsSync(checkpoint));
    await a.stop('SIGKILL');
    const b = await startWorker(url, 'b');
    try {
      const [r] = await done;
      assert.equal(r!.worker, 'b');
      const local = await localRun(s, join(b.workdir, 'data'));
      assert.equal(r!.result.testAcc, local.testAcc);
      assert.ok(Buffer.from(r!.result.files['weights.bin']!, 'base64').equals(local.weights), 'the weights differ from an uninterrupted run');
    } finally {
      await b.stop();
    }
  } finally {
    await c.close();
  }
});

test('Redis stopped and restarted mid-run: the run completes', { skip }, async () => {
  const url = redis!.url;
  const w = await startWorker(url, 'r1');
  const c = new Coordinator(parseRedisUrl(url));
  try {
    let restarted = false;
    const specs = [21, 22, 23].map((seed) => spec(seed, { epochs: 2, maxSteps: 4 }));
    const results = await c.run(specs, {
      label: 'train', quiet: true,
      onResult: async () => {
        if (restarted) return;
        restarted = true;
        await redis!.stop();
        await new Promise((r) => setTimeout(r, 500));
        await redis!.restart();
      },
    });
    assert.ok(restarted);
    assert.equal(results.length, 3);
    assert.ok(results.every((r) => r.result.testAcc >= 0 && r.result.files['weights.bin']));
    assert.equal(w.child.exitCode, null, 'the worker is still serving');
  } finally {
    await c.close();
    await w.stop();
  }
});

test('a malformed job or a path outside the workdir fails in one line; the worker keeps serving', { skip }, async () => {
  const url = redis!.url;
  const w = await startWorker(url, 'm1');
  const outside = tempDir();
  writeTinyIdx(join(outside, 'data'), 320, 48);
  symlinkSync(join(outside, 'data'), join(w.workdir, 'elsewhere'));
  const target = parseRedisUrl(url);
  const queue = new Queue(COMPUTE_QUEUE, { connection: target.options, prefix: QUEUE_PREFIX });
  const events = new QueueEvents(COMPUTE_QUEUE, { connection: target.options, prefix: QUEUE_PREFIX });
  const c = new Coordinator(target);
  try {
    await events.waitUntilReady();
    const job = await queue.add('train', { kind: 'train', blocks: 'k3_e1' }, { jobId: 'hand-made-1', attempts: 3 });
    await assert.rejects(job.waitUntilFinished(events), (e: Error) => /^malformed job: field '/.test(e.message) && !e.message.includes('\n'));
    assert.equal((await queue.getJob('hand-made-1'))!.attemptsMade, 1, 'not retried: another attempt cannot fix it');

    for (const dataset of ['idx:../' + 'x', 'idx:elsewhere']) {
      await assert.rejects(c.run([spec(31, { dataset })], { label: 'train', quiet: true }),
        (e: Error) => e instanceof LatnasError && /job field 'dataset': .* resolves outside the worker's --workdir/.test(e.message) && !e.message.includes('\n'));
    }
    const [ok] = await c.run([spec(32)], { label: 'train', quiet: true });
    assert.equal(ok!.worker, 'm1');
    assert.equal(w.child.exitCode, null);
    assert.match(w.stderr(), /hand-made-1: failed \(attempt 1\): malformed job/);
  } finally {
    await c.close();
    await Promise.all([queue.close(), events.close()]);
    await w.stop();
  }
});

test('a deadline (the study\'s --max-hours): unstarted jobs are withdrawn, running ones finish, a later run does the rest', { skip }, async () => {
  const url = redis!.url;
  const w = await startWorker(url, 'd1');
  const target = parseRedisUrl(url);
  const queue = new Queue(COMPUTE_QUEUE, { connection: target.options, prefix: QUEUE_PREFIX });
  const c = new Coordinator(target);
  try {
    const specs = [51, 52, 53, 54, 55].map((seed) => spec(seed, { maxSteps: 30 }));
    let finished = 0;
    const first = await c.runUntil(specs, { label: 'train', quiet: true, onResult: () => { finished++; }, stop: () => finished >= 1 });
    const done = first.filter((r) => r !== undefined).length;
    assert.ok(done >= 1 && done < specs.length, `finished ${done} of ${specs.length}`);
    for (const [i, r] of first.entries()) {
      if (r === undefined) assert.equal(await queue.getJob(jobId(specs[i]!)), undefined, `job ${i + 1} withdrawn from Redis`);
    }
    // No withdrawn job ever started: the worker started exactly the jobs whose results came back.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(w.stderr().match(/: started/g)?.length ?? 0, done, w.stderr());
    const all = await c.run(specs, { label: 'train', quiet: true });
    assert.equal(all.length, 5);
    first.forEach((r, i) => { if (r) assert.equal(all[i]!.result.testAcc, r.result.testAcc); });
    assert.equal(w.child.exitCode, null);
  } finally {
    await c.close();
    await queue.close();
    await w.stop();
  }
});

test('a folder: dataset on the queue: decoded on the worker to the job\'s input, cached, and trained as locally', { skip }, async () => {
  const url = redis!.url;
  const w = await startWorker(url, 'f1', [], false);
  const source = tinyDigits(80, 30);
  await writeImageFolder(source, join(w.workdir, 'photos'), { format: 'png', classNames: DIGITS });
  const few = tinyDigits(20, 6);
  await writeImageFolder({ ...few, train: { ...few.train, labels: few.train.labels.map((l) => l % 3) }, test: { ...few.test, labels: few.test.labels.map((l) => l % 3) } },
    join(w.workdir, 'three'), { format: 'png', classNames: ['a', 'b', 'c'] });
  const c = new Coordinator(parseRedisUrl(url));
  try {
    const specs = [41, 42].map((seed) => spec(seed, { dataset: 'folder:photos' }));
    const results = await c.run(specs, { label: 'train', quiet: true });
    // The same folder decoded here, as `latnas train --dataset folder:…` decodes it.
    const scan = scanFolder(join(w.workdir, 'photos'));
    const local = await loadFolder(scan, 'folder:photos', { shape: space.input, cacheDir: join(tempDir(), 'images'), quiet: true });
    const out = join(tempDir(), 'run');
    const backend = await initBackend('wasm');
    const r = await train({
      space, blocks: resolveArch(space, specs[0]!.blocks), dataset: local, out, ...specs[0]!.recipe, maxSteps: specs[0]!.recipe.maxSteps ?? undefined,
      seed: 41, resume: false, quiet: true, backend: backend.name, workers: 1,
    });
    assert.equal(results[0]!.result.testAcc, r.testAcc);
    assert.ok(Buffer.from(results[0]!.result.files['weights.bin']!, 'base64').equals(readFileSync(join(out, 'weights.bin'))), 'weights equal a local run\'s');
    // Decoded once, on the first job: one cache in the worker's image-cache/, read by the second.
    assert.equal(readdirSync(join(w.workdir, 'image-cache')).filter((f) => f.endsWith('.bin')).length, 1);

    await assert.rejects(c.run([spec(43, { dataset: 'folder:three' })], { label: 'train', quiet: true }),
      (e: Error) => e instanceof LatnasError && /job field 'dataset': the folder '.*three' on this worker has 3 classes, the job's space 10/.test(e.message) && !e.message.includes('\n'));
    assert.equal(w.child.exitCode, null, 'the worker keeps serving');
  } finally {
    await c.close();
    await w.stop();
  }
});

test('latnas run --redis refuses, before writing anything, a dataset the workers cannot be given', () => {
  const photos = join(tempDir(), 'photos');
  mkdirSync(join(photos, 'a'), { recursive: true });
  const out = join(tempDir(), 'run');
  const r = cli(['run', '--dataset', `folder:${photos}`, '--out', out, '--redis', 'redis://127.0.0.1:1']);
  assert.notEqual(r.code, 0);
  const lines = stderrLines(r.stderr);
  assert.match(lines[0] ?? '', /^latnas: --dataset 'folder:\/.*photos' cannot go to the --redis workers \(the dataset its DIR must be relative to the worker's --workdir\): give DIR relative to this folder/);
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(!existsSync(out), 'nothing written');
  assert.equal(queueDatasetProblem('folder:photos'), undefined);
  assert.equal(queueDatasetProblem('fashion-mnist'), undefined);
  assert.match(queueDatasetProblem('photos') ?? '', /must be mnist, fashion-mnist, idx:DIR, cifar10:DIR or folder:DIR/);
});

test('a device farm: one worker holds ort-cpu-1t, another ort-wasm; one command profiles both', { skip }, async () => {
  const url = redis!.url;
  const cpu = await startWorker(url, 'cpu-box', ['--devices', 'ort-cpu-1t', '--concurrency', '0'], false);
  const wasm = await startWorker(url, 'wasm-box', ['--devices', 'ort-wasm', '--concurrency', '0'], false);
  try {
    const cwd = tempDir();
    // spawnSync would block this process, not the workers (they are processes of their own).
    const r = cli(['profile', '--redis', url, '--device', 'ort-cpu-1t,ort-wasm', '--space', TINY_SPACE, '--rounds', '2', '--runs', '2', '--fit-nets', '10', '--quiet'], cwd);
    assert.equal(r.code, 0, r.stderr);
    for (const [device, worker] of [['ort-cpu-1t', 'cpu-box'], ['ort-wasm', 'wasm-box']] as const) {
      const table = join(cwd, 'latency-tables', device, 'tiny.json');
      const lut = loadLut(table, { device, space: loadSpace(TINY_SPACE) });
      assert.ok(Object.keys(lut.entries).length > 0);
      assert.match(r.stdout, new RegExp(`${device}/tiny\\.json: .* profiled by ${worker}`));
    }
    const again = cli(['profile', '--redis', url, '--device', 'ort-cpu-1t', '--space', TINY_SPACE, '--quiet'], cwd);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^latnas: LUT file 'latency-tables\/ort-cpu-1t\/tiny\.json' already exists; /);
  } finally {
    await Promise.all([cpu.stop(), wasm.stop()]);
  }
});

test('a score job: archs scored with a supernet snapshot in the workdir, exactly as the search scored them', { skip }, async () => {
  const url = redis!.url;
  const w = await startWorker(url, 's1');
  const c = new Coordinator(parseRedisUrl(url));
  try {
    // The snapshot: a finished tiny search, trained here on the worker's dataset under the spec the job names.
    const TABLE = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');
    const backend = await initBackend('wasm');
    await search({
      ...SEARCH_DEFAULTS, space, lut: loadLut(TABLE, { space }), lutPath: TABLE, dataset: tinyDigits(320, 48, 'idx:data'), strategy: 'random', target: 'baseline',
      out: join(w.workdir, 'snap'), resume: false, quiet: true, backend: backend.name, epochs: 1, batch: 16, stepsPerEpoch: 2, evalImages: 32, calibrationBatches: 1,
      random: { samples: 3 }, workers: 1,
    });
    const visited = JSON.parse(readFileSync(join(w.workdir, 'snap', 'visited.json'), 'utf8')) as { blocks: string[]; acc: number }[];
    const job: ScoreJob = {
      kind: 'score', space, dataset: 'idx:data', supernet: 'snap', archs: visited.map((v) => v.blocks), calibrationBatches: 1, evalImages: 32, backend: 'wasm',
    };
    const [r] = await c.run([job], { label: 'score', quiet: true });
    assert.deepEqual(r!.result.valAcc, visited.map((v) => v.acc));
    await assert.rejects(c.run([{ ...job, supernet: '../snap' }], { label: 'score', quiet: true }), /job field 'supernet': .* resolves outside/);
  } finally {
    await c.close();
    await w.stop();
  }
});

/** A private CA and a certificate for 127.0.0.1 signed by it (openssl), as PEM files in `dir`. */
function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => join(dir, n);
  const run = (args: string[]) => {
    const r = spawnSync('/usr/bin/openssl', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=latnas-test-ca']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('san.ext')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

test('rediss:// (TLS): a worker and a coordinator over TLS, the server checked against a private CA', { skip: skip || requireSystem(OPENSSL) }, async () => {
  const certs = makeCerts(tempDir());
  const r = await startLocalRedis({ tls: certs });
  // Node's own way to trust a private CA, read at process start.
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: certs.ca };
  const w = await startWorker(r.url, 'tls-box', ['--devices', 'ort-cpu-1t', '--concurrency', '0'], false, env);
  try {
    assert.match(r.url, /^rediss:\/\//);
    const cwd = tempDir();
    const args = ['profile', '--redis', r.url, '--device', 'ort-cpu-1t', '--space', TINY_SPACE, '--rounds', '2', '--runs', '2', '--fit-nets', '10', '--quiet'];
    const ok = spawnSync(process.execPath, [join(ROOT, 'bin/latnas.js'), ...args], { cwd, encoding: 'utf8', env });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /tiny\.json: .* profiled by tls-box/);
    // Without the CA the server's certificate is not trusted: one line, no connection.
    const refused = cli(args, tempDir());
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^latnas: --redis rediss:\/\/127\.0\.0\.1:\d+: cannot reach Redis \([A-Z_]+\)/);
  } finally {
    await w.stop();
    await r.dispose();
  }
});
