/**
 * bench:queue: the job queue's speed-up and per-job overhead (issue 17). The same set of short
 * retrainings (one arch, seeds 1..N, one thread each) runs three ways:
 *   local    train() in this process, one after another: the single-machine reference
 *   1 worker one `latnas worker` process, jobs through Redis
 *   2 workers two `latnas worker` processes on the same Redis
 *   local ×2 two plain processes side by side, each train()ing half the seeds one after another:
 *            what two processes on this machine give with no queue at all, so the queue's
 *            2-worker speed-up can be read against the machine's own ceiling
 * Redis is flushed between the queue runs, so no result is reused. Per-job overhead is
 * (1-worker wall − local wall) / N: what the queue adds to a job (submission, the worker's
 * blocking fetch, the sandbox thread, results through Redis, the coordinator's wake-up).
 *
 *   npm run bench:queue -- [--jobs 8] [--epochs 1] [--steps 40] [--batch 32] [--dataset mnist] [--arch k3_e6,...] [--redis URL] [--faults]
 *
 * --faults adds two runs on two workers (its own redis-server only, started with appendonly):
 *   kill     one worker SIGKILLed once it is mid-job; every job must still finish (the lost one on
 *            the other worker, after --lock-seconds 10) with the local run's accuracies
 *   restart  Redis stopped after the first result and started again 1 s later; the run must complete
 *
 * Without --redis it starts its own redis-server on a loopback port (Debian's redis-server).
 * With --redis the database is FLUSHED: give a scratch one. Ends with one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadDataset } from '../src/datasets/load.js';
import { closeRuntimes } from '../src/device/runtime.js';
import { hostProvenance } from '../src/device/host.js';
import { parseRedisUrl } from '../src/queue/connection.js';
import { Coordinator } from '../src/queue/coordinator.js';
import { startLocalRedis, type LocalRedis } from '../src/queue/local-redis.js';
import { trainSpec } from '../src/queue/specs.js';
import { resolveArch } from '../src/space/arch.js';
import { loadSpace, searchableLayers } from '../src/space/spaces.js';
import { initBackend } from '../src/train/backend.js';
import { train } from '../src/train/trainer.js';

const { values } = parseArgs({ options: {
  jobs: { type: 'string', default: '8' }, epochs: { type: 'string', default: '1' }, steps: { type: 'string', default: '40' },
  batch: { type: 'string', default: '32' }, dataset: { type: 'string', default: 'mnist' }, arch: { type: 'string' },
  redis: { type: 'string' }, backend: { type: 'string', default: 'wasm' }, faults: { type: 'boolean', default: false },
  // Internal: the child of the "local ×2" run trains these seeds (1-based, comma-separated) and prints its result.
  'child-seeds': { type: 'string' },
} });
const int = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${v}: give a positive integer`);
  return n;
};
const jobs = int('jobs', values.jobs!), epochs = int('epochs', values.epochs!), steps = int('steps', values.steps!), batch = int('batch', values.batch!);
const backend = values.backend as 'wasm' | 'cpu' | 'tensorflow' | 'auto';
const space = loadSpace('fbnet-mini');
const blocks = values.arch ? values.arch.split(',') : searchableLayers(space).map(() => 'k3_e6');
if (!/^(mnist|fashion-mnist)$/.test(values.dataset!)) throw new Error(`--dataset ${values.dataset}: mnist or fashion-mnist (built in on every worker)`);
const specs = Array.from({ length: jobs }, (_, i) => trainSpec({
  space, blocks, dataset: values.dataset!, seed: i + 1, backend, workers: 1, epochs, batch, lr: 0.05, maxSteps: steps,
}));
const BIN = fileURLToPath(new URL('../../bin/latnas.js', import.meta.url));
const say = (l: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);

async function local(only: readonly number[] = specs.map((s) => s.seed)): Promise<{ wall: number; accs: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'latnas-bench-queue-'));
  try {
    const dataset = loadDataset(values.dataset!);
    const name = (await initBackend(backend)).name;
    const t0 = Date.now();
    const accs: number[] = [];
    for (const s of specs.filter((x) => only.includes(x.seed))) {
      const r = await train({
        space, blocks: resolveArch(space, s.blocks), dataset, out: join(dir, `s${s.seed}`), ...s.recipe, maxSteps: steps, seed: s.seed,
        resume: false, quiet: true, backend: name, workers: 1,
      });
      accs.push(r.testAcc);
    }
    return { wall: (Date.now() - t0) / 1000, accs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Two plain processes side by side (no Redis), each training every other seed: `wall` is the
 * slower one's time from its first step (dataset and backend loaded, as `local()` times it),
 * `spawnWall` the parent's from spawn to both exits.
 */
async function localSideBySide(): Promise<{ wall: number; spawnWall: number; accs: number[] }> {
  const self = fileURLToPath(import.meta.url);
  const halves = [0, 1].map((h) => specs.map((s) => s.seed).filter((_, i) => i % 2 === h));
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--faults' && a !== '--child-seeds' && all[i - 1] !== '--child-seeds');
  const t0 = Date.now();
  const runs = await Promise.all(halves.map((seeds) => new Promise<{ wall: number; accs: number[]; seeds: number[] }>((resolve, reject) => {
    const child = spawn(process.execPath, [self, ...args, '--child-seeds', seeds.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`local side-by-side child (seeds ${seeds.join(',')}) exited ${code}`));
      resolve({ ...(JSON.parse(out.trim().split('\n').pop()!) as { wall: number; accs: number[] }), seeds });
    });
  })));
  const spawnWall = (Date.now() - t0) / 1000;
  const bySeed = new Map(runs.flatMap((r) => r.seeds.map((s, i) => [s, r.accs[i]!] as const)));
  return { wall: Math.max(...runs.map((r) => r.wall)), spawnWall, accs: specs.map((s) => bySeed.get(s.seed)!) };
}

/** A worker process; `onStart` hears each job it starts (its log lines are passed through to stderr). */
async function startWorker(url: string, name: string, workdir: string, onStart?: () => void): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--workdir', workdir, '--name', name, '--lock-seconds', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    process.stderr.write(s.replace(/^/gm, `[${name}] `).replace(/\[[^\]]*\] $/, ''));
    if (/: started/.test(s)) onStart?.();
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; if (out.includes('serving')) resolve(); });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code})`)));
  });
  return child;
}

type Fault = 'kill' | 'restart';

async function onQueue(url: string, workers: number, fault?: Fault): Promise<{ wall: number; inWorker: number; accs: number[]; perWorker: Record<string, number> }> {
  const flush = new Redis(parseRedisUrl(url).options);
  await flush.flushdb();
  flush.disconnect();
  const dir = mkdtempSync(join(tmpdir(), 'latnas-bench-queue-'));
  let killed = false;
  const procs: ChildProcess[] = [];
  // kill: w1 dies 2 s into its first job (mid-training: the job's result depends on every step).
  const kill = () => {
    if (fault !== 'kill' || killed) return;
    killed = true;
    setTimeout(() => { say('SIGKILL w1'); procs[0]?.kill('SIGKILL'); }, 2000);
  };
  procs.push(...await Promise.all(Array.from({ length: workers }, (_, i) => startWorker(url, `w${i + 1}`, join(dir, `w${i + 1}`), i === 0 ? kill : undefined))));
  const c = new Coordinator(parseRedisUrl(url));
  try {
    const t0 = Date.now();
    let restarted = false;
    const rs = await c.run(specs, {
      label: `${workers} worker(s)${fault ? `, ${fault}` : ''}`,
      onResult: async () => {
        if (fault !== 'restart' || restarted || !own) return;
        restarted = true;
        say('stopping Redis');
        await own.stop();
        await new Promise((r) => setTimeout(r, 1000));
        await own.restart();
        say('Redis started again');
      },
    });
    const perWorker: Record<string, number> = {};
    for (const r of rs) perWorker[r.worker] = (perWorker[r.worker] ?? 0) + 1;
    return { wall: (Date.now() - t0) / 1000, inWorker: rs.reduce((s, r) => s + r.seconds, 0), accs: rs.map((r) => r.result.testAcc), perWorker };
  } finally {
    await c.close();
    await Promise.all(procs.map((p) => new Promise<void>((r) => {
      if (p.exitCode !== null || p.signalCode !== null) return r();
      p.once('exit', () => r());
      p.kill('SIGTERM');
    })));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values['child-seeds'] !== undefined) {
  const r = await local(values['child-seeds'].split(',').map(Number));
  await closeRuntimes();
  console.log(JSON.stringify(r));
  process.exit(0);
}

let own: LocalRedis | undefined;
try {
  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  if (values.faults && values.redis) throw new Error('--faults restarts Redis: it needs its own redis-server, so leave --redis out');
  if (!values.redis) own = await startLocalRedis({ appendonly: values.faults });
  const url = values.redis ?? own!.url;
  say(`bench:queue: ${jobs} trainings of ${blocks.join(',')} (${epochs} epoch(s) of ${steps} steps, batch ${batch}, ${values.dataset}, ${backend}, 1 thread each)`);
  const ref = await local();
  say(`local: ${ref.wall.toFixed(1)} s`);
  const pair = await localSideBySide();
  say(`local x2 (two processes side by side, no queue): ${pair.wall.toFixed(1)} s (${pair.spawnWall.toFixed(1)} s from spawn)`);
  const one = await onQueue(url, 1);
  say(`1 worker: ${one.wall.toFixed(1)} s (${one.inWorker.toFixed(1)} s inside the worker)`);
  const two = await onQueue(url, 2);
  say(`2 workers: ${two.wall.toFixed(1)} s, jobs per worker ${JSON.stringify(two.perWorker)}`);
  const same = (a: number[]) => a.every((x, i) => x === ref.accs[i]);
  const faults: Record<string, { wallSeconds: number; sameAccuracyAsLocal: boolean; jobsPerWorker: Record<string, number> }> = {};
  if (values.faults) {
    for (const f of ['kill', 'restart'] as const) {
      const r = await onQueue(url, 2, f);
      say(`2 workers, ${f}: ${r.wall.toFixed(1)} s, jobs per worker ${JSON.stringify(r.perWorker)}`);
      faults[f] = { wallSeconds: +r.wall.toFixed(2), sameAccuracyAsLocal: same(r.accs), jobsPerWorker: r.perWorker };
    }
  }
  const host = hostProvenance();
  console.log(JSON.stringify({
    bench: 'queue', date: new Date().toISOString(), cpu: host.cpu, cpuId: host.cpuId, cores: host.cpuCount,
    jobs, config: { arch: blocks.join(','), epochs, steps, batch, dataset: values.dataset, backend, threadsPerJob: 1 },
    wallSeconds: { local: +ref.wall.toFixed(2), localSideBySide: +pair.wall.toFixed(2), worker1: +one.wall.toFixed(2), workers2: +two.wall.toFixed(2) },
    speedup2v1: +(one.wall / two.wall).toFixed(3),
    // The machine's own ceiling for two processes, no queue: the queue's speedup2v1 is read against it.
    localSpeedup2v1: +(ref.wall / pair.wall).toFixed(3),
    overheadMsPerJob: +((1000 * (one.wall - ref.wall)) / jobs).toFixed(1),
    // The coordinator's wall minus the time jobs ran inside the worker: submission, fetch, sandbox, result transfer.
    outsideJobMsPerJob: +((1000 * (one.wall - one.inWorker)) / jobs).toFixed(1),
    jobsPerWorker2: two.perWorker,
    sameAccuracyAsLocal: same(one.accs) && same(two.accs) && same(pair.accs),
    ...(values.faults ? { faults, lockSeconds: 10 } : {}),
  }));
} finally {
  await own?.dispose();
  await closeRuntimes();
}
