/**
 * NetAdapt (issue 15): weights carried to a cut arch, the proposals each step tries, and
 * `latnas adapt` end to end: it never returns an arch over the target, and a killed run resumes to
 * the result an uninterrupted one gives.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { narrowest, proposals, widthGroups } from '../src/adapt/proposals.js';
import { loadLut } from '../src/lut/lut.js';
import { LatencyModel } from '../src/search/latency.js';
import { resolveArch } from '../src/space/arch.js';
import { formatBlock, type Block } from '../src/space/blocks.js';
import { countMacs } from '../src/space/ir.js';
import { networkUnits, spaceUnits } from '../src/space/network.js';
import { pathBlocks, pathOf } from '../src/space/path.js';
import { loadSpace, searchableLayers, type Space } from '../src/space/spaces.js';
import { snapshot } from '../src/train/checkpoint.js';
import { TfModel } from '../src/train/model.js';
import { Rng } from '../src/util/rng.js';
import { sliceWeights } from '../src/weights/slice.js';
import { cli, ROOT, stderrLines, tempDir } from './helpers.js';
import { perturbBatchNorm } from './tensors.js';
import { writeTinyIdx } from './tiny-idx.js';

const SPACE_FILE = join(ROOT, 'test/fixtures/tiny28-adapt-space.json');

const net = (space: Space, blocks: readonly Block[]) => ({ layers: networkUnits(space, blocks).flatMap((u) => u.layers), input: space.input });

function logits(model: TfModel, space: Space, nhwc: Float32Array, batch: number): Float32Array {
  return tf.tidy(() => (model.forward(tf.tensor4d(nhwc, [batch, space.input.h, space.input.w, space.input.c]), false) as tf.Tensor).dataSync() as Float32Array);
}

test('weights sliced to a cut arch compute exactly what the wide net computes with the cut channels\' weights zeroed (widths, residual pairs, expansions)', async () => {
  await tf.setBackend('cpu');
  // fbnet-mini-widths: seven stages, residual-tied layers, SE, every expansion; only ungrouped blocks, whose dense view is what is stored.
  const space = loadSpace('fbnet-mini-widths');
  const layers = searchableLayers(space);
  const rng = new Rng(5);
  const ungrouped = (l: number, pick: (bs: Block[]) => Block) => pick(layers[l]!.candidates.filter((b) => b.type === 'ir' && b.g === 1));
  const widest = (bs: Block[]) => bs.reduce((a, b) => (b.c > a.c || (b.c === a.c && b.type === 'ir' && a.type === 'ir' && b.e > a.e) ? b : a));
  const wide = layers.map((_, l) => ungrouped(l, widest));
  const batch = 3;
  const x = Float32Array.from({ length: batch * space.input.c * space.input.h * space.input.w }, () => rng.normal());
  // TF.js names variables globally: one model at a time.
  const wideModel = new TfModel(net(space, wide).layers, space.input, 7);
  let trained;
  try {
    perturbBatchNorm(wideModel.allVariables(), rng);
    trained = snapshot(wideModel.allVariables()).map((t) => ({ ...t, data: Float32Array.from(t.data) }));
  } finally {
    wideModel.dispose();
  }
  const run = (layersOf: readonly Block[], values: (name: string, shape: number[]) => Float32Array) => {
    const m = new TfModel(net(space, layersOf).layers, space.input, 1);
    try {
      for (const v of m.allVariables()) v.assign(tf.tensor(values(v.name, v.shape), v.shape));
      return logits(m, space, x, batch);
    } finally {
      m.dispose();
    }
  };
  // The floor of the cuts, and three random cuts of each group's width and each layer's expansion.
  const cuts = [pathBlocks(space, narrowest(layers, wide), layers)];
  for (let k = 0; k < 3; k++) {
    const widths = widthGroups(layers, wide).map((g) => ({ g, c: rng.pick(layers[g[0]!]!.widths.filter((w) => w <= wide[g[0]!]!.c)) }));
    cuts.push(wide.map((b, l) => {
      const c = widths.find((w) => w.g.includes(l))!.c;
      const es = layers[l]!.candidates.filter((d) => d.type === 'ir' && b.type === 'ir' && d.g === 1 && d.k === b.k && d.c === c && d.e <= b.e && d.se === b.se && d.act === b.act);
      return rng.pick(es.length > 0 ? es : [b]);
    }));
  }
  assert.ok(cuts.every((c) => c.some((b, l) => formatBlock(b) !== formatBlock(wide[l]!))), 'every cut changes the arch');
  for (const cut of cuts) {
    const sliced = new Map(sliceWeights(net(space, wide), trained, net(space, cut), 11).map((t) => [t.name, t]));
    const a = run(cut, (name) => sliced.get(name)!.data);
    // The wide net keeps only each weight's leading corner the narrow one has (last two axes: in, out).
    const b = run(wide, (name) => {
      const t = trained.find((s) => s.name === name)!, n = sliced.get(name)!;
      const data = Float32Array.from(t.data);
      if (name.endsWith('.weight')) {
        const [ci, co] = t.shape.slice(-2) as [number, number], [ni, no] = n.shape.slice(-2) as [number, number];
        for (let j = 0; j < data.length; j++) if (Math.floor(j / co) % ci >= ni || j % co >= no) data[j] = 0;
      }
      return data;
    });
    const scale = Math.max(...b.map(Math.abs));
    const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    assert.ok(diff <= 1e-4 * scale, `${cut.map(formatBlock).join(',')}: max |Δlogit| ${diff} of ${scale}`);
  }
});

/** A table whose entries are an affine function of MACs: a device where every cut saves exactly what it removes. */
function macsTable(dir: string, space: Space): string {
  const table = join(dir, 'measured.json');
  const p = cli(['profile', '--device', 'ort-cpu-1t', '--space', SPACE_FILE, '--out', table, '--rounds', '2', '--runs', '2', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  const lut = JSON.parse(readFileSync(table, 'utf8')) as { entries: Record<string, { latencyMs: number }>; calibration: { overheadMs: number } };
  lut.calibration.overheadMs = 0.01;
  for (const u of spaceUnits(space)) if (lut.entries[u.key]) lut.entries[u.key]!.latencyMs = 0.002 + 1e-7 * countMacs(u.layers, u.input);
  const out = join(dir, 'macs.json');
  writeFileSync(out, JSON.stringify(lut));
  return out;
}

test('each step\'s proposals cut one whole residual-tied group or one expansion, save the step, and the floor is the fastest cut', () => {
  const space = loadSpace(SPACE_FILE);
  const dir = tempDir();
  const tablePath = macsTable(dir, space);
  const latency = new LatencyModel(space, loadLut(tablePath, { space }), tablePath);
  try {
    const layers = searchableLayers(space);
    const start = resolveArch(space, ['k3_e6_c16', 'k3_e6_c16', 'k3_e6_c32']);
    const path = pathOf(space, start, layers);
    assert.deepEqual(widthGroups(layers, start), [[0, 1], [2]]);
    const props = proposals(layers, start, latency, path, 1e-9);
    assert.deepEqual(props.map((p) => p.label), ['layers 0-1: 16 -> 8 channels', 'layer 2: 32 -> 24 channels', 'layer 0: e6 -> e3', 'layer 1: e6 -> e3', 'layer 2: e6 -> e3']);
    for (const p of props) assert.ok(Math.abs(p.ms - latency.pathMs(p.path)) < 1e-12 && p.savedMs > 0);
    // A step the smallest cut of layer 2 does not save takes its next width instead.
    const w24 = props[1]!.savedMs;
    const bigger = proposals(layers, start, latency, path, w24 * 1.0001).find((p) => p.layers.join() === '2' && p.kind === 'width');
    assert.equal(bigger?.label, 'layer 2: 32 -> 16 channels');
    assert.deepEqual(pathBlocks(space, narrowest(layers, start), layers).map(formatBlock), ['ir_k3_e1_c8_s1_re', 'ir_k3_e1_c8_s1_re', 'ir_k3_e3_c16_s2_re']);
  } finally {
    latency.dispose();
  }
});

function adaptArgs(run: string, out: string, table: string, dataset: string, targetMs: number): string[] {
  return ['adapt', '--run', run, '--out', out, '--table', table, '--dataset', dataset, '--target-ms', String(targetMs), '--finetune-steps', '4', '--batch', '16',
    '--backend', 'wasm', '--workers', '1', '--no-export', '--quiet'];
}

/** adapt.json without wall times. */
function trajectory(out: string): unknown {
  return JSON.parse(readFileSync(join(out, 'adapt.json'), 'utf8'), (k, v) => (k === 'seconds' ? undefined : v));
}

test('latnas adapt reaches the target on the table and never passes it, keeps the most accurate proposal per step, and a killed run resumes to the same result', async () => {
  const space = loadSpace(SPACE_FILE);
  const dir = tempDir();
  const table = macsTable(dir, space);
  const dataset = writeTinyIdx(join(dir, 'digits'), 480, 96);
  const run = join(dir, 'run');
  const t = cli(['train', '--space', SPACE_FILE, '--arch', 'k3_e6_c16,k3_e6_c16,k3_e6_c32', '--dataset', dataset, '--epochs', '1', '--batch', '16', '--backend', 'wasm',
    '--workers', '1', '--out', run, '--quiet']);
  assert.equal(t.code, 0, t.stderr);
  const latency = new LatencyModel(space, loadLut(table, { space }), table);
  try {
    const layers = searchableLayers(space);
    const start = resolveArch(space, ['k3_e6_c16', 'k3_e6_c16', 'k3_e6_c32']);
    const startMs = latency.pathMs(pathOf(space, start, layers)), floorMs = latency.pathMs(narrowest(layers, start));
    // Out of reach, and already met: one line each, nothing written.
    const below = cli(adaptArgs(run, join(dir, 'below'), table, dataset, floorMs * 0.99));
    assert.equal(below.code, 1);
    assert.match(stderrLines(below.stderr).join('\n'), /^latnas: adapt: the narrowest this arch can be cut to .* takes [\d.]+ ms on '.*', above --target-ms [\d.]+; give a target of at least [\d.]+/);
    const met = cli(adaptArgs(run, join(dir, 'met'), table, dataset, startMs * 1.01));
    assert.equal(met.code, 1);
    assert.match(stderrLines(met.stderr).join('\n'), /^latnas: adapt: the arch already takes [\d.]+ ms .* within --target-ms/);
    assert.ok(!existsSync(join(dir, 'below')) && !existsSync(join(dir, 'met')));

    // Two thirds of the way to the floor: several steps of several proposals each.
    const target = startMs - (2 / 3) * (startMs - floorMs);
    const whole = join(dir, 'whole');
    const r = cli(adaptArgs(run, whole, table, dataset, target));
    assert.equal(r.code, 0, r.stderr);
    const state = JSON.parse(readFileSync(join(whole, 'adapt.json'), 'utf8')) as {
      start: { ms: number }; steps: { stepMs: number; tried: { blocks: string[]; ms: number; valAcc: number }[]; chosen: number }[]; final: { blocks: string[]; ms: number };
    };
    assert.ok(state.steps.length >= 2, `${state.steps.length} step(s)`);
    assert.ok(state.final.ms <= target, `${state.final.ms} > ${target}`);
    assert.equal(state.final.ms, latency.pathMs(pathOf(space, resolveArch(space, state.final.blocks), layers)));
    let now = state.start.ms;
    for (const s of state.steps) {
      assert.ok(s.tried.length >= 1);
      for (const p of s.tried) assert.ok(now - p.ms >= s.stepMs - 1e-12, 'each proposal saves the step');
      const best = Math.max(...s.tried.map((p) => p.valAcc));
      assert.equal(s.tried[s.chosen]!.valAcc, best, 'the most accurate proposal is kept');
      now = s.tried[s.chosen]!.ms;
    }
    assert.equal(now, state.final.ms);
    // Only the kept proposals' folders stay; the final fine-tune is a train run folder `latnas export` takes.
    state.steps.forEach((s, k) => s.tried.forEach((_, i) => assert.equal(existsSync(join(whole, 'steps', String(k + 1), String(i))), i === s.chosen)));
    assert.ok(existsSync(join(whole, 'train', 'weights.bin')));

    // Killed once the second proposal is recorded, then run again: the same trajectory and result.
    const killed = join(dir, 'killed');
    const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), ...adaptArgs(run, killed, table, dataset, target)], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          const s = JSON.parse(readFileSync(join(killed, 'adapt.json'), 'utf8')) as { steps: unknown[]; pending?: { tried: unknown[] } };
          if (s.steps.length + (s.pending?.tried.length ?? 0) >= 2) {
            clearInterval(timer);
            child.kill('SIGKILL');
          }
        } catch {
          // not written yet, or being renamed into place
        }
      }, 20);
      child.on('exit', () => { clearInterval(timer); resolve(); });
      child.on('error', reject);
    });
    assert.ok(!existsSync(join(killed, 'train', 'weights.bin')), 'killed before the end');
    const again = cli(adaptArgs(run, killed, table, dataset, target).filter((a) => a !== '--quiet'));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /adapt: resuming '.*' after \d+ step\(s\)/);
    assert.deepEqual(trajectory(killed), trajectory(whole));
    // Another target on the same folder is refused, naming the field.
    const other = cli(adaptArgs(run, killed, table, dataset, target * 0.99));
    assert.equal(other.code, 1);
    assert.match(stderrLines(other.stderr).join('\n'), /^latnas: adapt folder '.*' holds a run with other settings \(.*targetMs.*\)/);
  } finally {
    latency.dispose();
  }
});

test('latnas run --adapt-ms adapts the trained net after the train stage, exports the adapted net, and the report draws the trajectory', () => {
  const space = loadSpace(SPACE_FILE);
  const dir = tempDir();
  const table = macsTable(dir, space);
  const dataset = writeTinyIdx(join(dir, 'digits'), 480, 96);
  const latency = new LatencyModel(space, loadLut(table, { space }), table);
  let adaptMs: number, slowest: number;
  try {
    // Every arch of this space cuts down to one floor: just above it, whatever the search picks is cut (unless it is the floor itself).
    const layers = searchableLayers(space);
    const paths: number[][] = [[]];
    for (const l of layers) paths.splice(0, paths.length, ...paths.flatMap((p) => l.candidates.map((_, i) => [...p, i])));
    slowest = Math.max(...paths.map((p) => latency.pathMs(p)));
    const floors = new Set(paths.map((p) => latency.pathMs(narrowest(layers, pathBlocks(space, p, layers)))));
    assert.equal(floors.size, 1);
    adaptMs = 1.0001 * [...floors][0]!;
  } finally {
    latency.dispose();
  }
  const out = join(dir, 'run');
  const args = ['run', '--out', out, '--space', SPACE_FILE, '--table', table, '--dataset', dataset, '--target-ms', String(slowest), '--strategy', 'evolution',
    '--search-epochs', '1', '--search-steps', '3', '--train-epochs', '1', '--eval-images', '64', '--samples', '3', '--batch', '16', '--backend', 'wasm', '--workers', '1'];
  // Above the search's target it could only ever be met already: refused before any stage runs.
  const high = cli([...args, '--adapt-ms', String(slowest * 2), '--quiet']);
  assert.equal(high.code, 1);
  assert.match(stderrLines(high.stderr).join('\n'), /^latnas: --adapt-ms [\d.]+: the search's target is [\d.]+ ms, which the searched arch already meets; give an --adapt-ms below it/);
  const r = cli([...args, '--adapt-ms', String(adaptMs)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\[4\/6\] adapt: NetAdapt to/);
  const pipeline = JSON.parse(readFileSync(join(out, 'pipeline.json'), 'utf8')) as { stages: { adapt: { adapted: boolean; ms: number; blocks?: string[] } } };
  const a = pipeline.stages.adapt;
  assert.ok(a.ms <= adaptMs, `${a.ms} > ${adaptMs}`);
  const exported = JSON.parse(readFileSync(join(out, 'model.export.json'), 'utf8')) as { arch: string[]; latency: { predictedMs: number } };
  const trained = JSON.parse(readFileSync(join(out, 'train', 'arch.json'), 'utf8')) as { blocks: string[] };
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  // The search's pick is deterministic (one seed, one worker) but not this test's to know: only the floor itself is not cut.
  if (a.adapted) {
    assert.deepEqual(exported.arch, a.blocks);
    assert.notDeepEqual(exported.arch, trained.blocks);
    assert.ok(Math.abs(exported.latency.predictedMs - a.ms) < 1e-9);
    assert.match(html, /<section id="adapt"><h2>NetAdapt<\/h2>/);
    assert.match(html, /class="mark-line role-mark kept_marks"/);
  } else {
    assert.deepEqual(exported.arch, trained.blocks);
    assert.ok(!html.includes('<section id="adapt">'));
  }
  // A rerun skips every finished stage, adapt included.
  const again = cli([...args, '--adapt-ms', String(adaptMs)]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /\[4\/6\] adapt: done earlier, skipped/);
});
