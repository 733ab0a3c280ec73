/** `latnas predict`: an architecture's latency from a lookup table (src/lut/lut.ts). */
import type { Command } from 'commander';
import { warnIfOtherMachine } from '../device/host.js';
import { loadLut, predict } from '../lut/lut.js';
import { formatBlock } from '../space/blocks.js';
import { countMacs } from '../space/ir.js';
import { networkUnits } from '../space/network.js';
import { loadSpace } from '../space/spaces.js';
import { archFor } from './inputs.js';

export function registerPredict(program: Command): void {
  program.command('predict')
    .description("print an architecture's predicted latency from a lookup table")
    .requiredOption('--table <path>', 'latency lookup table (JSON)')
    .requiredOption('--arch <arch>', 'block strings (comma/space separated; short k5_e6 or full ir_k5_e6_c40_s2 forms) or an arch JSON file')
    .option('--space <name|file>', "search space (default: the table's)")
    .option('--device <name>', 'refuse a table made for another device')
    .option('--breakdown', 'print each unit\'s latency', false)
    .option('--json', 'print JSON', false)
    .action((o: { table: string; arch: string; space?: string; device?: string; breakdown: boolean; json: boolean }) => {
      const peek = loadLut(o.table, { device: o.device });
      const space = loadSpace(o.space ?? peek.space);
      const lut = loadLut(o.table, { device: o.device, space });
      const blocks = archFor(space, o.arch);
      const units = networkUnits(space, blocks);
      const p = predict(lut, units, o.table);
      warnIfOtherMachine(lut, o.table);
      const macs = countMacs(units.flatMap((u) => u.layers), space.input);
      if (o.json) {
        const json = { space: space.name, device: lut.device, blocks: blocks.map(formatBlock), predictedMs: p.totalMs, macs, units: p.units, overheadMs: p.overheadMs };
        console.log(JSON.stringify(json));
        return;
      }
      if (o.breakdown) {
        for (const u of p.units) console.log(`${u.latencyMs.toFixed(4).padStart(10)} ms  ${u.key}`);
        console.log(`${p.overheadMs.toFixed(4).padStart(10)} ms  (per-network intercept of the fit)`);
      }
      console.log(`${p.totalMs.toFixed(3)} ms predicted on ${lut.device} (${(macs / 1e6).toFixed(1)} M MACs, space ${space.name})`);
    });
}
