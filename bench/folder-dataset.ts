/**
 * bench:folder-dataset — does a folder of images train as its IDX original does, and what does
 * decoding cost? (issue 16)
 *
 *   npm run bench:folder-dataset -- [--formats png,jpeg] [--seeds 2] [--epochs 1] [--batch 64] [--lr 0.1]
 *                                   [--workers N] [--max-steps S] [--out runs/bench-folder]
 *
 * Writes Fashion-MNIST (Debian's dataset-fashion-mnist) as DIR/train/<class>/N.png and
 * DIR/test/… (and .jpg at quality 95) with sharp, once; times the decode of all 70,000 images into
 * a fresh cache and the cached reload; then trains the MobileNetV2-style fbnet-mini arch with one
 * recipe on `idx:` (the original files) and on each folder, seed by seed, and reports the test
 * accuracies. The grey folder's default augmentation (pad 2, no mirror) is the idx: recipe's.
 * The last stdout line is the headline JSON.
 */
import { execSync } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_MNIST_DIR, fashionMnistInstalled, loadDataset, loadFashionMnist } from '../src/datasets/load.js';
import { openDataset } from '../src/datasets/open.js';
import { writeImageFolder, type ImageFormat } from '../src/datasets/write-folder.js';
import { hostProvenance } from '../src/device/host.js';
import { fail, LatnasError } from '../src/errors.js';
import { baselinePath } from '../src/search/baseline.js';
import { pathBlocks } from '../src/space/path.js';
import { loadSpace } from '../src/space/spaces.js';
import { initBackend } from '../src/train/backend.js';
import { train, TRAIN_DEFAULTS } from '../src/train/trainer.js';
import { meanStd } from './search-quality/summary.js';

const { values: v } = parseArgs({
  options: {
    formats: { type: 'string', default: 'png,jpeg' },
    seeds: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '1' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.1' },
    workers: { type: 'string', default: String(availableParallelism()) },
    'max-steps': { type: 'string' },
    out: { type: 'string', default: 'runs/bench-folder' },
  },
});

const say = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

async function main(): Promise<void> {
  if (!fashionMnistInstalled()) fail(`Fashion-MNIST is not installed at '${FASHION_MNIST_DIR}'; apt-get install dataset-fashion-mnist`);
  const formats = v.formats!.split(',').map((f) => f.trim()) as ImageFormat[];
  if (formats.some((f) => !['png', 'jpeg', 'webp'].includes(f))) fail(`--formats ${v.formats}: use png, jpeg or webp`);
  const seeds = Number(v.seeds);
  const recipe = { epochs: Number(v.epochs), batch: Number(v.batch), lr: Number(v.lr), maxSteps: v['max-steps'] === undefined ? undefined : Number(v['max-steps']) };
  const workers = Number(v.workers);
  const out = v.out!;
  const fmnist = loadFashionMnist();
  const space = loadSpace('fbnet-mini');
  const blocks = pathBlocks(space, baselinePath(space));
  const backend = await initBackend('auto');

  const encode: Record<string, number> = {};
  const decode: Record<string, number> = {};
  const cachedLoad: Record<string, number> = {};
  const cacheMiB: Record<string, number> = {};
  const folderBytes: Record<string, number> = {};
  for (const f of formats) {
    const dir = join(out, `fmnist-${f}`);
    const done = join(dir, '.complete');
    if (!existsSync(done)) {
      rmSync(dir, { recursive: true, force: true });
      const t = Date.now();
      const n = await writeImageFolder(fmnist, dir, { format: f });
      encode[f] = (Date.now() - t) / 1000;
      writeFileSync(done, `${n}\n`);
      say(`${f}: wrote ${n} files in ${encode[f]!.toFixed(1)} s`);
    }
    folderBytes[f] = Number(execSync(`du -sb '${dir}'`).toString().split('\t')[0]);
    const cache = join(out, `cache-${f}`);
    rmSync(cache, { recursive: true, force: true });
    let t = Date.now();
    const { dataset } = await openDataset(`folder:${dir}`, space, { input: space.input, cacheDir: cache, quiet: true });
    decode[f] = (Date.now() - t) / 1000;
    cacheMiB[f] = statSync(dataset.cache!).size / 2 ** 20;
    t = Date.now();
    await openDataset(`folder:${dir}`, space, { input: space.input, cacheDir: cache, quiet: true });
    cachedLoad[f] = (Date.now() - t) / 1000;
    say(`${f}: decoded ${dataset.train.count + dataset.test.count} images in ${decode[f]!.toFixed(1)} s (cache ${cacheMiB[f]!.toFixed(1)} MiB, reload ${cachedLoad[f]!.toFixed(2)} s)`);
  }

  const sources = [{ name: 'idx', spec: `idx:${FASHION_MNIST_DIR}` }, ...formats.map((f) => ({ name: f, spec: `folder:${join(out, `fmnist-${f}`)}` }))];
  const acc: Record<string, number[]> = {};
  const seconds: Record<string, number[]> = {};
  for (let seed = 1; seed <= seeds; seed++) {
    for (const s of sources) {
      const runDir = join(out, 'train', `${s.name}-s${seed}`);
      const opened = s.name === 'idx'
        ? { dataset: loadDataset(s.spec) }
        : await openDataset(s.spec, space, { input: space.input, cacheDir: join(out, `cache-${s.name}`), quiet: true });
      const t = Date.now();
      const r = await train({
        ...TRAIN_DEFAULTS, space, blocks, dataset: opened.dataset, out: runDir, ...recipe, seed, resume: true, quiet: true, backend: backend.name, workers,
      });
      (acc[s.name] ??= []).push(r.testAcc);
      (seconds[s.name] ??= []).push((Date.now() - t) / 1000);
      say(`train ${s.name} seed ${seed}: test ${(100 * r.testAcc).toFixed(2)}% in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
  }
  const summary = Object.fromEntries(Object.entries(acc).map(([k, a]) => [k, { ...meanStd(a.map((x) => 100 * x)), n: a.length, accs: a.map((x) => 100 * x) }]));
  console.log(JSON.stringify({
    bench: 'folder-dataset', cpu: hostProvenance().cpu, cpuId: hostProvenance().cpuId, date: new Date().toISOString(), images: fmnist.train.count + fmnist.test.count,
    recipe: { ...recipe, arch: 'mbv2 (k3_e6 everywhere)', workers, backend: backend.name },
    encode_s: encode, folder_mib: Object.fromEntries(Object.entries(folderBytes).map(([k, b]) => [k, b / 2 ** 20])),
    decode_s: decode, cached_load_s: cachedLoad, cache_mib: cacheMiB, test_acc_pct: summary, train_s: seconds,
  }));
}

try {
  await main();
} catch (e) {
  if (!(e instanceof LatnasError)) throw e;
  process.stderr.write(`folder-dataset: ${e.message}\n`);
  process.exitCode = 1;
}
