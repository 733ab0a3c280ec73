/** `latnas lut-check`: random whole networks measured on a device and the table's predictions scored (src/lut/check.ts). */
import type { Command } from 'commander';
import { loadDevice } from '../device/device.js';
import type { BrowserRuntime } from '../device/browser.js';
import { tableBrowser } from '../device/browser-provenance.js';
import { compareWithBrowser, otherMachineWarning, warnIfOtherMachine } from '../device/host.js';
import { openRuntime } from '../device/runtime.js';
import { lutCheck, noiseVerdict, signedPct } from '../lut/check.js';
import { defaultLutPath, loadLut } from '../lut/lut.js';
import { loadSpace } from '../space/spaces.js';
import { writeJsonAtomic } from '../util/files.js';
import { checkOutputFile } from '../util/outdir.js';
import { refuseOverwritingInputs } from '../util/outputs.js';
import { deviceSpaceInputs } from './inputs.js';
import { intOption, quietOption, roundsOption, runsOption, seedOption } from './options.js';

interface LutCheckFlags {
  device: string; space: string; table?: string; samples: number; seed: number; rounds?: number; runs?: number; out?: string; json: boolean; quiet: boolean;
}

export function registerLutCheck(program: Command): void {
  program.command('lut-check')
    .description('measure random whole networks on a device and score the lookup table\'s predictions')
    .requiredOption('--device <name|file>', 'device descriptor')
    .requiredOption('--space <name|file>', 'search space')
    .option('--table <path>', 'lookup table (default latency-tables/<device>/<space>.json, else the shipped one)')
    .option('--samples <n>', 'random architectures to measure', intOption('--samples', 2), 100)
    .addOption(seedOption('seed of the sampled architectures'))
    .addOption(roundsOption())
    .addOption(runsOption('net'))
    .option('--out <path>', 'write the full result (every net) as JSON')
    .option('--json', 'print the summary as one JSON line', false)
    .addOption(quietOption())
    .action(async (o: LutCheckFlags) => {
      const device = loadDevice(o.device);
      const space = loadSpace(o.space);
      const path = o.table ?? defaultLutPath(device.name, space.name);
      if (o.out) refuseOverwritingInputs('--out', o.out, [{ path: o.out }], [{ what: 'the --table file', path }, ...deviceSpaceInputs(o.device, o.space)]);
      // Before minutes of timing, not after: the result is written last.
      if (o.out) checkOutputFile(o.out, '--out', 'lut-check.json');
      const lut = loadLut(path, { device: device.name, space });
      // Checking a table on another machine is a fair use (it measures how far off it is), so
      // this only says so. A browser table is compared with the browser attached now.
      const anyway = 'checking it anyway: the scores below are for this device';
      if (device.runtime === 'browser') {
        const page = ((await openRuntime(device)) as BrowserRuntime).info.page;
        const line = otherMachineWarning(path, device.name, space.name, compareWithBrowser(tableBrowser(path), page), anyway, 'in another browser');
        if (line) process.stderr.write(`${line}\n`);
      } else warnIfOtherMachine(lut, path, device.runtime, anyway);
      const r = await lutCheck({
        device, space, lut, lutPath: path, samples: o.samples, seed: o.seed, quiet: o.quiet || o.json, rounds: o.rounds, runsPerRound: o.runs,
      });
      if (o.out) writeJsonAtomic(o.out, r);
      const { report: m } = r;
      if (o.json) {
        console.log(JSON.stringify({
          device: r.device, space: r.space, samples: r.samples, seed: r.seed, calibration: r.calibration, estimator: r.estimator, ...m, floor: r.floor,
          sentinelDriftPct: r.sentinelDriftPct, acceptedPct: r.acceptedPct, seconds: r.seconds, alternatives: r.alternatives,
        }));
        return;
      }
      const ms = r.nets.map((n) => n.measuredMs);
      const f = r.floor;
      console.log(`lut-check ${r.device}/${r.space}: ${r.samples} random nets (seed ${r.seed}), ` +
        `measured ${Math.min(...ms).toFixed(3)}-${Math.max(...ms).toFixed(3)} ms, ${r.seconds.toFixed(0)} s`);
      console.log(`  MAPE ${m.mapePct.toFixed(2)}%  max |err| ${m.maxAbsErrPct.toFixed(2)}%  within ±5% ${m.within5Pct.toFixed(1)}%  ` +
        `within ±10% ${m.within10Pct.toFixed(1)}%  Spearman ${m.spearman.toFixed(4)}  Kendall ${m.kendall.toFixed(4)}`);
      console.log(`  noise floor (the same nets, pass 1 vs pass 2): MAPE ${f.mapePct.toFixed(2)}%  max |err| ${f.maxAbsErrPct.toFixed(2)}%  ` +
        `within ±5% ${f.within5Pct.toFixed(1)}%  Spearman ${f.spearman.toFixed(4)}`);
      console.log(`  ${noiseVerdict(m.mapePct, f.mapePct)}; ${r.acceptedPct.toFixed(0)}% of visits quiet, ` +
        `the machine ran ${signedPct(r.sentinelDriftPct)} vs the table (sentinel)`);
      console.log(`  (calibration '${r.calibration}', estimator ${r.estimator}; the same measurements scored other ways:)`);
      for (const [name, a] of Object.entries(r.alternatives)) {
        console.log(`    ${name.padEnd(22)} MAPE ${a.mapePct.toFixed(2).padStart(6)}%  max ${a.maxAbsErrPct.toFixed(2).padStart(6)}%  ` +
          `±5% ${a.within5Pct.toFixed(0).padStart(3)}%  ±10% ${a.within10Pct.toFixed(0).padStart(3)}%  Spearman ${a.spearman.toFixed(4)}`);
      }
    });
}
