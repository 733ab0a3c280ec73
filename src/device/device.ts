/**
 * A device is a JSON descriptor in devices/: which runtime and settings time the models, and how
 * (warm-up, rounds, runs per round, estimator). `--device NAME` reads devices/NAME.json from the
 * current folder or the package; `--device path.json` reads a user's file.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fail } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { parseWith, readJsonFile } from '../util/validate.js';

/**
 * How a `browser` device gets its page: `chromium` launches a local headless browser
 * (playwright-core driving `executablePath`, a new empty profile); `none` serves the page and
 * waits for any browser (a phone, a tablet, a laptop) to open its URL, as `latnas agent` does.
 */
export const BrowserSchema = z.object({
  launch: z.enum(['chromium', 'none']),
  executablePath: z.string().min(1).default('/usr/bin/chromium'),
  /** Address the agent server binds: 127.0.0.1 keeps it on this machine; 0.0.0.0 lets a phone on the LAN connect. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port of the agent server; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(0),
  /** Seconds to wait for a launched browser's page to connect and answer each job (`none` waits for the device as long as it takes). */
  timeoutSeconds: z.number().positive().max(86_400).default(120),
}).strict();

/**
 * Ranges of the timing plan: beyond them a profile would run for days (the shipped devices use
 * 5-10 warm-up runs, 20 rounds of 4-5 runs).
 */
export const DEVICE_LIMITS = { warmup: 1000, rounds: 1000, runsPerRound: 1000, samplesPerModel: 100_000 } as const;

export const DeviceSchema = z.object({
  name: z.string().max(64).regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  description: z.string().optional(),
  /** Opened by src/device/runtime.ts. `browser`: onnxruntime-web in a web page (device/browser.ts) served by the agent (src/agent/). */
  runtime: z.enum(['onnxruntime-node', 'onnxruntime-web', 'browser']),
  executionProvider: z.enum(['cpu', 'wasm', 'webgpu']),
  browser: BrowserSchema.optional(),
  threads: z.number().int().min(1).max(256),
  graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']),
  /** Untimed runs per session before measuring. */
  warmup: z.number().int().min(0).max(DEVICE_LIMITS.warmup).default(10),
  /** Interleaved rounds: every model is timed once per round, in a fresh shuffled order. */
  rounds: z.number().int().min(1).max(DEVICE_LIMITS.rounds).default(8),
  runsPerRound: z.number().int().min(1).max(DEVICE_LIMITS.runsPerRound).default(10),
  /**
   * Which statistic of the pooled samples stands for a model's latency. p25 was the most
   * repeatable here (two passes over the same nets: fbnet 1.0%, fbnet-mini 0.35% MAPE; p10 1.2% and
   * 0.42%; median 0.8% and 0.89%; min 1.7-2.0% and 0.57%).
   */
  estimator: z.enum(['p10', 'p25', 'median']).default('p25'),
  /**
   * The sentinel gate (src/profiler/timing.ts): a visit counts when the sentinel net timed before
   * and after it is within this fraction of its quiet level; 0 turns the gate off. 8% kept the
   * pass-to-pass error of 100 fbnet-mini nets at 1.0-1.3% with the second core loaded (5%: the
   * same, with fewer visits accepted; 20%: 1.3-1.5%).
   */
  gateTolerance: z.number().min(0).max(1).default(0.08),
  /** Visits per model, accepted or not, are capped at this multiple of `rounds` (a busy machine). */
  maxVisitFactor: z.number().min(1).max(20).default(4),
  /**
   * Accepted visits per fit network when profiling (default half of `rounds`). The fit averages
   * over hundreds of networks, so each needs fewer visits than a network lut-check scores:
   * fbnet's 416 fit networks are most of its profile time.
   */
  fitRounds: z.number().int().min(1).max(1000).optional(),
  notes: z.string().optional(),
}).strict().superRefine((d, ctx) => {
  if (d.rounds * d.runsPerRound > DEVICE_LIMITS.samplesPerModel) {
    const runs = d.rounds * d.runsPerRound;
    const message = `rounds x runsPerRound is ${runs} timed runs per model, over ${DEVICE_LIMITS.samplesPerModel}; lower rounds or runsPerRound`;
    ctx.addIssue({ code: 'custom', path: ['runsPerRound'], message });
  }
  if (d.runtime === 'onnxruntime-web' && d.executionProvider !== 'wasm') {
    ctx.addIssue({ code: 'custom', path: ['executionProvider'], message: "onnxruntime-web in Node supports only 'wasm'" });
  }
  if (d.runtime === 'onnxruntime-node' && d.executionProvider !== 'cpu') {
    ctx.addIssue({ code: 'custom', path: ['executionProvider'], message: "onnxruntime-node here supports only 'cpu'" });
  }
  if (d.runtime === 'browser' && d.executionProvider !== 'wasm' && d.executionProvider !== 'webgpu') {
    ctx.addIssue({ code: 'custom', path: ['executionProvider'], message: "a browser runs 'wasm' or 'webgpu'" });
  }
  if (d.runtime === 'browser' && !d.browser) {
    const message = 'a browser device needs "browser": {"launch": "chromium"} (local headless Chromium) or {"launch": "none"} (open the printed URL on the device)';
    ctx.addIssue({ code: 'custom', path: ['browser'], message });
  }
  if (d.runtime !== 'browser' && d.browser) {
    ctx.addIssue({ code: 'custom', path: ['browser'], message: "only runtime 'browser' takes a 'browser' field" });
  }
});

export type Device = z.infer<typeof DeviceSchema>;

function deviceDirs(): string[] {
  return [join(process.cwd(), 'devices'), join(PACKAGE_ROOT, 'devices')];
}

export function listDevices(): string[] {
  const names = new Set<string>();
  for (const dir of deviceDirs()) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.json')) names.add(f.slice(0, -5));
  }
  return [...names].sort();
}

/** The descriptor file `--device` names: the path itself, or NAME.json in ./devices or the package's devices/ (undefined if none). */
export function deviceFile(nameOrPath: string): string | undefined {
  if (nameOrPath.endsWith('.json') || nameOrPath.includes('/')) return nameOrPath;
  return deviceDirs().map((d) => join(d, `${nameOrPath}.json`)).find((p) => existsSync(p));
}

export function loadDevice(nameOrPath: string): Device {
  const path = deviceFile(nameOrPath);
  if (!path) fail(`unknown device '${nameOrPath}': use one of ${listDevices().join(', ')} or a path to a device JSON file`);
  return parseWith(DeviceSchema, readJsonFile(path, 'device'), `device file '${path}'`, 'see devices/ort-cpu-1t.json for a valid descriptor');
}
