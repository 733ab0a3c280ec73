/**
 * bench:export-vs-torch: latency of latnas's exported ONNX against a `torch.onnx.export` of the same
 * architecture (Debian python3-torch, bench/torch_export.py), both run by onnxruntime-node with
 * the same device settings (ort-cpu-1t: 1 thread, full graph optimisation). Both are built from
 * the same layer IR and take a dynamic batch; the latnas side is what `latnas export` writes
 * (buildModelProto with batch 'batch'), with random weights since latency does not depend on them.
 *
 * Timed as the profiler times (interleaved shuffled rounds, the device's estimator), per arch.
 *
 *   npm run bench:export-vs-torch -- [--rounds 30] [--device ort-cpu-1t]
 *
 * Ends with one JSON line: per-arch latencies and the latnas/torch ratio (goal <= 1.0).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadDevice } from '../src/device/device.js';
import { openRuntime } from '../src/device/runtime.js';
import { buildModelProto, encodeModel } from '../src/onnx/model.js';
import { measureJobs, networkSentinelJob, openSentinel, timingPlan } from '../src/profiler/measure.js';
import { resolveArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' }, device: { type: 'string', default: 'ort-cpu-1t' } } });

const ARCHS: { name: string; space: string; blocks: string[] }[] = [
  { name: 'fbnet-mini MobileNetV2 (k3_e6 x12)', space: 'fbnet-mini', blocks: Array(12).fill('k3_e6') },
  { name: 'fbnet-mini mixed (groups, shuffle, skip)', space: 'fbnet-mini', blocks: 'k3_e6,k5_e1_g2,k3_e3,k5_e6,k3_e1_g2,k5_e3,k3_e6,skip,k5_e6,k3_e1,k5_e3,k3_e6'.split(',') },
  { name: 'mbv3-mini (SE, h-swish)', space: 'mbv3-mini', blocks: 'k3_e3,k5_e4,k3_e3,k5_e6,k7_e3,skip,k5_e4,k3_e6,skip,k7_e6,k5_e3,k3_e4'.split(',') },
];

const dir = mkdtempSync(join(tmpdir(), 'latnas-bench-export-'));
const script = join(dirname(fileURLToPath(import.meta.url)), '../../bench/torch_export.py');

function torchExport(layers: unknown, input: unknown, classes: number, i: number): { bytes: Uint8Array; version: string } | undefined {
  const spec = join(dir, `ir${i}.json`);
  const out = join(dir, `torch${i}.onnx`);
  writeFileSync(spec, JSON.stringify({ input, classes, layers }));
  const r = spawnSync('/usr/bin/python3', [script, spec, out, '17'], { encoding: 'utf8', cwd: dirname(script) });
  if (r.status !== 0) {
    process.stderr.write(`torch export unavailable (${r.stderr.trim().split('\n').pop()}); install python3-torch\n`);
    return undefined;
  }
  return { bytes: readFileSync(out), version: (JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string }).torch };
}

const device = loadDevice(values.device!);
const runtime = await openRuntime(device);
const plan = timingPlan(device, { rounds: Number(values.rounds) });
const rows: { arch: string; latnasMs: number; torchMs: number; ratio: number; latnasNodes: number }[] = [];
let torchVersion = '';
for (const [i, a] of ARCHS.entries()) {
  const space = loadSpace(a.space);
  const layers = networkUnits(space, resolveArch(space, a.blocks)).flatMap((u) => u.layers);
  const proto = buildModelProto(layers, space.input, { batch: 'batch', inputName: 'input', outputName: 'logits' });
  const latnas = encodeModel(proto);
  const torch = torchExport(layers, space.input, space.classes, i);
  if (!torch) process.exit(1);
  torchVersion = torch.version;
  const jobs = [{ input: space.input, model: () => latnas }, { input: space.input, model: () => torch.bytes }];
  const sentinel = await openSentinel(runtime, plan, networkSentinelJob(space));
  const m = await measureJobs(runtime, jobs, plan, new Rng(i + 1), { sentinel }).finally(() => sentinel.session.release());
  const [l, t] = [m.stats[0]![device.estimator], m.stats[1]![device.estimator]];
  rows.push({ arch: a.name, latnasMs: l, torchMs: t, ratio: l / t, latnasNodes: proto.graph!.node!.length });
  process.stderr.write(`${a.name}: latnas ${l.toFixed(4)} ms, torch.onnx.export ${t.toFixed(4)} ms, ratio ${(l / t).toFixed(3)}\n`);
}
const geo = Math.exp(rows.reduce((s, r) => s + Math.log(r.ratio), 0) / rows.length);
console.log(JSON.stringify({
  bench: 'export-vs-torch', device: device.name, estimator: device.estimator, rounds: plan.rounds, torch: torchVersion,
  archs: rows.map((r) => ({ arch: r.arch, latnas_ms: +r.latnasMs.toFixed(4), torch_ms: +r.torchMs.toFixed(4), ratio: +r.ratio.toFixed(3) })),
  ratio_latnas_vs_torch: +geo.toFixed(3),
}));
