/** `latnas profile`: a space's latency lookup table on a device (src/profiler/profile.ts). */
import type { Command } from 'commander';
import { loadDevice } from '../device/device.js';
import { profile } from '../profiler/profile.js';
import type { Shape } from '../space/ir.js';
import { BUILTIN_SPACES } from '../space/spaces.js';
import { lockFile } from '../util/lock.js';
import { refuseOverwritingInputs } from '../util/outputs.js';
import { deviceSpaceInputs, spaceFrom } from './inputs.js';
import { inputOption, intOption, quietOption, roundsOption, runsOption, seedOption } from './options.js';
import { profileOnQueue } from './profile-queue.js';

interface ProfileFlags {
  device: string; space: string; out?: string; resume: boolean; force: boolean; rounds?: number; runs?: number; chunk: number;
  fitNets?: number; fitRounds?: number; seed: number; quiet: boolean; input?: Shape; redis?: string;
}

export function registerProfile(program: Command): void {
  program.command('profile')
    .description('time every distinct block of a search space on a device and write its latency lookup table')
    .requiredOption('--device <name|file>', 'device descriptor: a name in devices/ or a JSON file')
    .requiredOption('--space <name|file>', `search space: ${Object.keys(BUILTIN_SPACES).join(', ')} or a JSON file`)
    .addOption(inputOption())
    .option('--out <path>', 'table to write (default latency-tables/<device>/<space>.json)')
    .option('--resume', 'continue an interrupted profile; entries already written are kept', false)
    .option('--force', 'profile again from scratch even if the table exists', false)
    .addOption(roundsOption())
    .addOption(runsOption('model'))
    .option('--chunk <n>', 'models loaded and timed together; the table is saved after each chunk', intOption('--chunk', 1), 32)
    .option('--fit-nets <n>', 'random whole networks timed to fit in-network latencies (default max(400, 4 x units))', intOption('--fit-nets', 10))
    .option('--fit-rounds <n>',
      'accepted visits per fit network (default: the device\'s fitRounds, else 30% of its rounds)',
      intOption('--fit-rounds', 1))
    .addOption(seedOption('seed of the fit networks and the timing order'))
    .addOption(quietOption())
    .option('--redis <url>', 'profile on the queue\'s workers instead (latnas worker --devices): --device may then list several names, profiled at once')
    .action(async (o: ProfileFlags) => {
      if (o.redis !== undefined) {
        await profileOnQueue(o.redis, o);
        return;
      }
      const device = loadDevice(o.device);
      const space = spaceFrom(o.space, o.input);
      const out = o.out ?? `latency-tables/${device.name}/${space.name}.json`;
      refuseOverwritingInputs('--out', out, [{ path: out }], deviceSpaceInputs(o.device, o.space));
      // One profile per table: two would interleave their chunks into one file.
      const lock = lockFile(out, 'latency table');
      let r: Awaited<ReturnType<typeof profile>>;
      try {
        r = await profile({
          device, space, out, resume: o.resume, force: o.force, chunk: o.chunk, seed: o.seed, quiet: o.quiet, fitNets: o.fitNets, fitRounds: o.fitRounds,
          plan: { rounds: o.rounds, runsPerRound: o.runs },
        });
      } finally {
        lock.release();
      }
      const c = r.lut.calibration;
      console.log(`${out}: ${Object.keys(r.lut.entries).length} entries (${r.measured} measured now, ${r.skipped} kept), ${c.nets.length} fit networks, ` +
        `in ${r.seconds.toFixed(1)} s; ${device.name} ${r.lut.provenance.runtime} ${r.lut.provenance.runtimeVersion}, estimator ${r.lut.estimator}, ` +
        `fit cross-validated MAPE ${c.cvMapePct.toFixed(2)}%`);
    });
}
