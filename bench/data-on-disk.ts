/**
 * bench:data-on-disk — what training from a decoded-image cache on disk costs against the same
 * cache in memory (issue 16: datasets larger than RAM). Fashion-MNIST is written once as a PNG
 * folder; it is decoded at --input (default 3x64x64 RGB: 70,000 images, 860 MB) into a cache,
 * in a child process whose peak RSS shows the decode holds no copy of the set; then the same
 * training (MobileNetV2-style fbnet-mini derived at that input, --steps steps) runs in child
 * processes alternately with the cache in memory and on disk (LATNAS_DATA_MEMORY_MIB=0), and
 * each reports its images/s and peak RSS. Ratios are disk / memory within a round.
 *
 *   npm run bench:data-on-disk -- [--input 3x64x64] [--steps 100] [--batch 64] [--rounds 2] [--workers N] [--out runs/bench-disk] [--reuse-cache]
 *
 * The last stdout line is the headline JSON.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DATA_MEMORY_ENV } from '../src/datasets/image-cache.js';
import { FASHION_MNIST_DIR, fashionMnistInstalled, loadFashionMnist } from '../src/datasets/load.js';
import { openDataset } from '../src/datasets/open.js';
import { writeImageFolder } from '../src/datasets/write-folder.js';
import { hostProvenance } from '../src/device/host.js';
import { fail, LatnasError } from '../src/errors.js';
import { baselinePath } from '../src/search/baseline.js';
import { parseInputShape } from '../src/space/derive.js';
import { pathBlocks } from '../src/space/path.js';
import { loadSpace } from '../src/space/spaces.js';
import { initBackend } from '../src/train/backend.js';
import { train, TRAIN_DEFAULTS } from '../src/train/trainer.js';
import { quantile } from '../src/util/stats.js';

const { values: v } = parseArgs({
  options: {
    input: { type: 'string', default: '3x64x64' },
    steps: { type: 'string', default: '100' },
    batch: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    workers: { type: 'string', default: String(availableParallelism()) },
    out: { type: 'string', default: 'runs/bench-disk' },
    // Keep an existing cache (its decode is then not timed again; for reruns of the training rounds).
    'reuse-cache': { type: 'boolean', default: false },
    // Internal: a child's job (decode, or train with the cache in memory or on disk).
    child: { type: 'string' },
  },
});

const say = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const folder = () => join(v.out!, 'fmnist-png');
const cacheDir = () => join(v.out!, 'cache');
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

interface ChildReport { seconds: number; maxRssMiB: number; imagesPerSecond?: number; onDisk?: boolean; cacheMiB?: number }

async function child(job: string): Promise<ChildReport> {
  const shape = parseInputShape(v.input!);
  const t0 = Date.now();
  const { dataset, space } = await openDataset(`folder:${folder()}`, loadSpace('fbnet-mini'), { input: shape, cacheDir: cacheDir(), quiet: true });
  if (job === 'decode') return { seconds: (Date.now() - t0) / 1000, maxRssMiB: maxRssMiB(), cacheMiB: statSync(dataset.cache!).size / 2 ** 20 };
  const backend = await initBackend('auto');
  const out = join(v.out!, 'train', `${job}-${process.pid}`);
  const t1 = Date.now();
  const r = await train({
    ...TRAIN_DEFAULTS, space, blocks: pathBlocks(space, baselinePath(space)), dataset, out, epochs: 1, maxSteps: Number(v.steps), batch: Number(v.batch),
    lr: 0.05, valFraction: 0, seed: 1, resume: false, quiet: true, backend: backend.name, workers: Number(v.workers),
  });
  rmSync(out, { recursive: true, force: true });
  return { seconds: (Date.now() - t1) / 1000, maxRssMiB: maxRssMiB(), imagesPerSecond: r.epochs[0]!.imagesPerSecond, onDisk: dataset.train.images === undefined };
}

function runChild(job: string, budgetMiB?: number): Promise<ChildReport> {
  const env = { ...process.env };
  if (budgetMiB === undefined) delete env[DATA_MEMORY_ENV];
  else env[DATA_MEMORY_ENV] = String(budgetMiB);
  const args = [fileURLToPath(import.meta.url), ...process.argv.slice(2).filter((a, i, all) => a !== '--child' && all[i - 1] !== '--child'), '--child', job];
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildReport) : reject(new Error(`child '${job}' exited ${code}`))));
  });
}

async function main(): Promise<void> {
  if (v.child !== undefined) {
    console.log(JSON.stringify(await child(v.child)));
    return;
  }
  if (!fashionMnistInstalled()) fail(`Fashion-MNIST is not installed at '${FASHION_MNIST_DIR}'; apt-get install dataset-fashion-mnist`);
  const done = join(folder(), '.complete');
  if (!existsSync(done)) {
    rmSync(folder(), { recursive: true, force: true });
    const t = Date.now();
    const n = await writeImageFolder(loadFashionMnist(), folder(), { format: 'png' });
    writeFileSync(done, `${n}\n`);
    say(`wrote ${n} PNG files in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
  if (!v['reuse-cache']) rmSync(cacheDir(), { recursive: true, force: true });
  // Decoded with the budget at 0: the decode itself must not need the set in memory.
  const decode = await runChild('decode', 0);
  say(`decode at ${v.input}: ${decode.seconds.toFixed(0)} s, cache ${decode.cacheMiB!.toFixed(0)} MiB, peak RSS ${decode.maxRssMiB.toFixed(0)} MiB`);
  const rounds: { memory: ChildReport; disk: ChildReport; ratio: number }[] = [];
  for (let r = 0; r < Number(v.rounds); r++) {
    // Alternated, memory first in even rounds: the machine's drift falls on both alike.
    const order = r % 2 === 0 ? ['memory', 'disk'] as const : ['disk', 'memory'] as const;
    const got: Partial<Record<'memory' | 'disk', ChildReport>> = {};
    for (const m of order) {
      got[m] = await runChild(m, m === 'disk' ? 0 : undefined);
      say(`round ${r + 1} ${m}: ${got[m]!.imagesPerSecond!.toFixed(0)} img/s, peak RSS ${got[m]!.maxRssMiB.toFixed(0)} MiB${got[m]!.onDisk ? ' (cache on disk)' : ''}`);
    }
    if (got.memory!.onDisk || !got.disk!.onDisk) fail('the memory run read from disk or the disk run from memory: check LATNAS_DATA_MEMORY_MIB handling');
    rounds.push({ memory: got.memory!, disk: got.disk!, ratio: got.disk!.imagesPerSecond! / got.memory!.imagesPerSecond! });
  }
  const host = hostProvenance();
  console.log(JSON.stringify({
    bench: 'data-on-disk', cpu: host.cpu, cpuId: host.cpuId, date: new Date().toISOString(), input: v.input, images: 70_000,
    config: { steps: Number(v.steps), batch: Number(v.batch), workers: Number(v.workers), arch: 'mbv2 (k3_e6 everywhere)' },
    decode_s: +decode.seconds.toFixed(1), cache_mib: +decode.cacheMiB!.toFixed(1), decode_peak_rss_mib: +decode.maxRssMiB.toFixed(0),
    train_img_s: { memory: rounds.map((r) => +r.memory.imagesPerSecond!.toFixed(1)), disk: rounds.map((r) => +r.disk.imagesPerSecond!.toFixed(1)) },
    peak_rss_mib: { memory: rounds.map((r) => +r.memory.maxRssMiB.toFixed(0)), disk: rounds.map((r) => +r.disk.maxRssMiB.toFixed(0)) },
    disk_vs_memory_by_round: rounds.map((r) => +r.ratio.toFixed(3)), disk_vs_memory: +quantile(rounds.map((r) => r.ratio), 0.5).toFixed(3),
  }));
}

try {
  await main();
} catch (e) {
  if (!(e instanceof LatnasError)) throw e;
  process.stderr.write(`data-on-disk: ${e.message}\n`);
  process.exitCode = 1;
}
