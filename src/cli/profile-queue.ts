/**
 * `latnas profile --redis URL`: the profile runs on the queue's workers (src/queue/), one job per
 * device on that device's queue, all at once; each table is written atomically where the local
 * profile writes it. Workers resume an interrupted profile in their job folder and a finished
 * job's table is reused, so --resume and --force do not apply.
 */
import { existsSync } from 'node:fs';
import { fail } from '../errors.js';
import { checkRedis, parseRedisUrl } from '../queue/connection.js';
import { withCoordinator } from '../queue/coordinator.js';
import { profileSpec, writeProfiledTable } from '../queue/specs.js';
import { loadSpace } from '../space/spaces.js';
import { lockFile } from '../util/lock.js';
import { refuseOverwritingInputs } from '../util/outputs.js';
import { deviceSpaceInputs } from './inputs.js';

export interface QueueProfileFlags {
  device: string; space: string; out?: string; resume: boolean; force: boolean; rounds?: number; runs?: number; chunk: number;
  fitNets?: number; fitRounds?: number; seed: number; quiet: boolean;
}
export async function profileOnQueue(url: string, o: QueueProfileFlags): Promise<void> {
  const redis = parseRedisUrl(url);
  if (o.resume || o.force) fail('--resume and --force do not apply with --redis: workers resume interrupted profiles themselves, and a finished job\'s table is reused');
  const devices = o.device.split(',').map((d) => d.trim()).filter((d) => d !== '');
  const path = devices.find((d) => d.includes('/') || d.endsWith('.json'));
  if (path !== undefined) fail(`--device ${path}: with --redis give device names; each worker loads its own device file (latnas worker --devices)`);
  if (devices.length > 1 && o.out !== undefined) fail(`--out names one table, but --device lists ${devices.length} devices; leave --out out (each goes to latency-tables/<device>/<space>.json)`);
  const space = loadSpace(o.space);
  const outs = devices.map((d) => o.out ?? `latency-tables/${d}/${space.name}.json`);
  for (const out of outs) {
    refuseOverwritingInputs('--out', out, [{ path: out }], deviceSpaceInputs(undefined, o.space));
    // Nothing finished is overwritten: the local profile refuses an existing table without --resume or --force too.
    if (existsSync(out)) fail(`LUT file '${out}' already exists; move it aside or choose another --out (with --redis the table is written only when its profile has finished)`);
  }
  await checkRedis(redis);
  const locks = outs.map((out) => lockFile(out, 'latency table'));
  try {
    const specs = devices.map((device) => profileSpec({
      device, space, seed: o.seed, chunk: o.chunk, fitNets: o.fitNets, fitRounds: o.fitRounds, rounds: o.rounds, runsPerRound: o.runs,
    }));
    await withCoordinator(redis, (c) => c.run(specs, {
      label: `profile ${devices.join(', ')}`, quiet: o.quiet,
      onResult: (s, env) => {
        const out = outs[s.index]!;
        writeProfiledTable(out, env.result);
        console.log(`${out}: ${env.result.entries} entries (${env.result.measured} measured), profiled by ${env.worker} in ${env.result.profileSeconds.toFixed(1)} s`);
      },
    }));
  } finally {
    for (const l of locks) l.release();
  }
}
