import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDevice } from '../src/device/device.js';
import { openRuntime } from '../src/device/runtime.js';
import { loadLut } from '../src/lut/lut.js';
import { buildNetworkModel } from '../src/onnx/model.js';
import { profile } from '../src/profiler/profile.js';
import { randomArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';
import { tempDir, TINY_SPACE } from './helpers.js';

test('onnxruntime-web (wasm, in Node) and onnxruntime-node compute the same network', async () => {
  const space = loadSpace('mbv3-mini');
  const model = buildNetworkModel(networkUnits(space, randomArch(space, new Rng(8))));
  const node = await openRuntime(loadDevice('ort-cpu-1t'));
  const wasm = await openRuntime(loadDevice('ort-wasm'));
  assert.equal(wasm.name, 'onnxruntime-web');
  const a = await node.createSession(model, space.input);
  const b = await wasm.createSession(model, space.input);
  const ya = await a.output();
  const yb = await b.output();
  assert.equal(ya.length, space.classes);
  let scale = 0, err = 0;
  for (let i = 0; i < ya.length; i++) {
    scale = Math.max(scale, Math.abs(ya[i]!));
    err = Math.max(err, Math.abs(ya[i]! - yb[i]!));
  }
  assert.ok(err / scale < 1e-4, `relative difference ${err / scale}`);
  assert.ok((await b.timeOnce()) > 0);
  await a.release();
  await b.release();
});

test('the ort-wasm device profiles a space end to end', async () => {
  const out = join(tempDir(), 'wasm.json');
  const space = loadSpace(TINY_SPACE);
  const r = await profile({ device: loadDevice('ort-wasm'), space, out, resume: false, chunk: 8, fitNets: 10, quiet: true, plan: { rounds: 2, runsPerRound: 1, warmup: 1 } });
  const lut = loadLut(out, { device: 'ort-wasm', space });
  assert.equal(lut.provenance.runtime, 'onnxruntime-web');
  assert.equal(lut.provenance.executionProvider, 'wasm');
  assert.equal(Object.keys(lut.entries).length, r.measured);
  assert.ok(Object.values(lut.entries).every((e) => e.median > 0));
});
