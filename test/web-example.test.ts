import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { BatchStream } from '../src/datasets/batches.js';
import { imageCacheDir, openDataset } from '../src/datasets/open.js';
import { writeImageFolder } from '../src/datasets/write-folder.js';
import { loadSpace } from '../src/space/spaces.js';
import { launchChromium, serve, urlOf } from './browser.js';
import { CHROMIUM, cli, requireSystem, ROOT, tempDir } from './helpers.js';
import { tinyDigits } from './tiny-idx.js';

const PAGE = join(ROOT, 'examples/web/index.html');

test('the README\'s web page classifies a folder\'s photos in headless Chromium as onnxruntime-node does, with the classes from the export', { skip: requireSystem(CHROMIUM) }, async () => {
  // A folder of PNG digits, a short training through folder:, and the export the page reads.
  const dir = join(tempDir(), 'digits');
  const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
  await writeImageFolder(tinyDigits(400, 40), dir, { format: 'png', classNames: names });
  const run = join(tempDir(), 'run');
  const arch = Array(12).fill('k3_e1').join(',');
  const t = cli(['train', '--space', 'fbnet-mini', '--arch', arch, '--dataset', `folder:${dir}`, '--out', run, '--epochs', '1', '--max-steps', '20', '--batch', '16',
    '--workers', '1', '--backend', 'wasm', '--quiet']);
  assert.equal(t.code, 0, t.stderr);
  const model = join(run, 'model.onnx');
  const e = cli(['export', '--run', run, '--out', model, '--no-latency', '--backend', 'wasm', '--quiet']);
  assert.equal(e.code, 0, e.stderr);
  const report = JSON.parse(readFileSync(join(run, 'model.export.json'), 'utf8')) as { classes: string[]; input: { mean: number[]; std: number[] } };
  assert.deepEqual(report.classes, [...names].sort());

  // onnxruntime-node on the decoded test images, normalised as the trainer did.
  const { dataset } = await openDataset(`folder:${dir}`, loadSpace('fbnet-mini'), { cacheDir: imageCacheDir(run), quiet: true });
  const n = dataset.test.count;
  const stream = new BatchStream(dataset, { batchSize: n, norm: report.input, seed: 1, split: 'test', shuffle: false });
  const nhwc = stream.epoch().next().value!.x;
  const session = await ort.InferenceSession.create(model);
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(nhwc), [n, 1, 28, 28]) });
  const logits = out['logits']!.data as Float32Array;
  const nodeTop = Array.from({ length: n }, (_, i) => {
    const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
    return row.indexOf(Math.max(...row));
  });

  // The same images as files, in the order the folder lists them (by class, then name).
  const files = report.classes.flatMap((c) => readdirSync(join(dir, 'test', c)).sort().map((f) => `/img/${c}/${f}`));
  assert.equal(files.length, n);
  const server = await serve({
    '/': () => readFileSync(PAGE), '/model.onnx': () => readFileSync(model), '/model.export.json': () => readFileSync(join(run, 'model.export.json')),
    ...Object.fromEntries(files.map((f) => [f, () => readFileSync(join(dir, 'test', f.slice(5)))])),
  }, true);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(urlOf(server));
    const top = await page.evaluate(async (urls) => {
      const w = window as unknown as { classifyUrl: (u: string, k: number) => Promise<{ index: number; label: string }[]> };
      const r = [];
      for (const u of urls) r.push((await w.classifyUrl(u, 1))[0]!);
      return r;
    }, files);
    assert.deepEqual(top.map((x) => x.index), nodeTop);
    assert.deepEqual(top.map((x) => x.label), nodeTop.map((i) => report.classes[i]));
  } finally {
    await browser.close();
    server.close();
  }
});
