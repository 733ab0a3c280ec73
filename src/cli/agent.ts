/**
 * `latnas agent`: profile whatever device opens a URL. It serves the profiling page (src/agent/),
 * waits for a browser (a phone, a tablet, a laptop) to open it, profiles the space through that
 * page, writes the table with the browser's user agent and hardware hints as provenance, and can
 * lut-check the table on whole networks in the same page.
 */
import type { Command } from 'commander';
import type { BrowserRuntime } from '../device/browser.js';
import { tableUserAgent } from '../device/browser-provenance.js';
import { DeviceSchema, type Device } from '../device/device.js';
import { openRuntime } from '../device/runtime.js';
import { fail } from '../errors.js';
import { lutCheck, signedPct } from '../lut/check.js';
import { loadLut } from '../lut/lut.js';
import { profile } from '../profiler/profile.js';
import { BUILTIN_SPACES, loadSpace } from '../space/spaces.js';
import { writeJsonAtomic } from '../util/files.js';
import { lockFile } from '../util/lock.js';
import { checkOutputFile } from '../util/outdir.js';
import { inputFile, refuseOverwritingInputs } from '../util/outputs.js';
import { parseWith } from '../util/validate.js';
import { intOption } from './options.js';

export interface AgentOptions {
  name: string; host: string; port: number; ep: string; threads: number; launch: string;
  warmup: number; rounds: number; runs: number;
}

/** The device `latnas agent` profiles: a browser that opens the URL (or a local headless Chromium with --launch chromium). */
export function agentDevice(o: AgentOptions): Device {
  if (o.ep !== 'wasm' && o.ep !== 'webgpu') fail(`--ep '${o.ep}': use wasm or webgpu`);
  if (o.launch !== 'none' && o.launch !== 'chromium') fail(`--launch '${o.launch}': use none (open the URL on the device) or chromium (a local headless Chromium)`);
  return parseWith(DeviceSchema, {
    name: o.name,
    description: `a browser profiled through latnas agent (onnxruntime-web ${o.ep})`,
    runtime: 'browser',
    executionProvider: o.ep,
    threads: o.threads,
    graphOptimizationLevel: 'all',
    browser: { launch: o.launch, host: o.host, port: o.port, timeoutSeconds: 120 },
    warmup: o.warmup,
    rounds: o.rounds,
    runsPerRound: o.runs,
    estimator: 'p25',
  }, 'latnas agent', '--name takes lowercase letters, digits and dashes (it names the device in the table)');
}

export function registerAgentCommand(program: Command): void {
  program.command('agent')
    .description('serve a profiling page: the browser that opens its URL (phone, tablet, laptop) is profiled with onnxruntime-web, and its table written')
    .option('--space <name|file>', `search space: ${Object.keys(BUILTIN_SPACES).join(', ')} or a JSON file`, 'fbnet-mini')
    .option('--out <path>', 'table to write (default latency-tables/<name>/<space>.json)')
    .option('--name <device>', 'device name recorded in the table (e.g. pixel7-chrome)', 'browser')
    .option('--host <addr>', 'address to listen on; 0.0.0.0 lets a phone on the LAN connect', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', intOption('--port', 0, 65535), 8765)
    .option('--ep <name>', 'onnxruntime-web execution provider: wasm or webgpu (where the browser has it)', 'wasm')
    .option('--threads <n>', 'wasm threads (more than 1 needs a cross-origin isolated page: localhost or https)', intOption('--threads', 1, 64), 1)
    .option('--launch <browser>', 'none (open the URL on the device) or chromium (a local headless Chromium, /usr/bin/chromium)', 'none')
    .option('--warmup <n>', 'untimed runs per model before timing', intOption('--warmup', 0), 5)
    .option('--rounds <n>', 'interleaved rounds', intOption('--rounds', 1), 20)
    .option('--runs <n>', 'timed runs per model per round', intOption('--runs', 1), 4)
    .option('--chunk <n>', 'models loaded and timed together; the table is saved after each chunk', intOption('--chunk', 1), 32)
    .option('--fit-nets <n>', 'random whole networks timed to fit in-network latencies (default max(400, 4 x units))', intOption('--fit-nets', 10))
    .option('--seed <n>', 'seed of the fit networks and the timing order', intOption('--seed', 0), 1)
    .option('--resume', 'continue an interrupted profile of the same device (or keep a finished one)', false)
    .option('--force', 'profile again from scratch even if the table exists', false)
    .option('--check <n>', 'then lut-check the table on n random whole networks in the same page', intOption('--check', 2))
    .option('--check-out <path>', 'write the lut-check result (every net) as JSON')
    .option('--quiet', 'no progress output', false)
    .action(async (o: AgentOptions & {
      space: string; out?: string; chunk: number; fitNets?: number; seed: number; resume: boolean; force: boolean; check?: number; checkOut?: string; quiet: boolean;
    }) => {
      const device = agentDevice(o);
      const space = loadSpace(o.space);
      const out = o.out ?? `latency-tables/${device.name}/${space.name}.json`;
      refuseOverwritingInputs('--out', out, [{ path: out }], [inputFile('the --space file', o.space)]);
      if (o.checkOut) refuseOverwritingInputs('--check-out', o.checkOut, [{ path: o.checkOut }], [inputFile('the --space file', o.space), { what: 'the table (--out)', path: out }]);
      if (o.checkOut) checkOutputFile(o.checkOut, '--check-out', 'lut-check.json');
      // One profile per table: two would interleave their chunks into one file. Held until the command's process exits.
      lockFile(out, 'latency table');
      // Attach the device first: a resumed table must come from the same browser.
      const rt = (await openRuntime(device)) as BrowserRuntime;
      const before = o.resume ? tableUserAgent(out) : undefined;
      if (before && before !== rt.info.page.userAgent) {
        fail(`LUT file '${out}' was profiled on '${before}', but the page attached now is '${rt.info.page.userAgent}'; profile this device into another --out (or --force)`);
      }
      const r = await profile({ device, space, out, resume: o.resume, force: o.force, chunk: o.chunk, seed: o.seed, quiet: o.quiet, fitNets: o.fitNets });
      const c = r.lut.calibration;
      console.log(`${out}: ${Object.keys(r.lut.entries).length} entries (${r.measured} measured now, ${r.skipped} kept), ${c.nets.length} fit networks, in ${r.seconds.toFixed(1)} s; ` +
        `onnxruntime-web ${rt.version} ${device.executionProvider} in ${rt.info.page.userAgent}; fit cross-validated MAPE ${c.cvMapePct.toFixed(2)}%`);
      if (o.check !== undefined) {
        if (!r.lut.complete) fail(`LUT file '${out}' is incomplete; finish it with --resume before --check`);
        const lut = loadLut(out, { device: device.name, space });
        const k = await lutCheck({ device, space, lut, lutPath: out, samples: o.check, seed: o.seed, quiet: o.quiet });
        if (o.checkOut) writeJsonAtomic(o.checkOut, { ...k, userAgent: rt.info.page.userAgent });
        const m = k.report;
        const ms = k.nets.map((n) => n.measuredMs);
        console.log(`lut-check ${device.name}/${space.name}: ${k.samples} random nets, measured ${Math.min(...ms).toFixed(3)}-${Math.max(...ms).toFixed(3)} ms: ` +
          `MAPE ${m.mapePct.toFixed(2)}%, max |err| ${m.maxAbsErrPct.toFixed(2)}%, within ±5% ${m.within5Pct.toFixed(1)}%, within ±10% ${m.within10Pct.toFixed(1)}%, ` +
          `Spearman ${m.spearman.toFixed(4)}; ` +
          `noise floor (two passes) MAPE ${k.floor.mapePct.toFixed(2)}%; the page ran ${signedPct(k.sentinelDriftPct)} vs the table`);
      }
    });
}
