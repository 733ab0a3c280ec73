/** `latnas worker`: serves the Redis job queue (src/queue/worker.ts) until SIGTERM or Ctrl-C. */
import type { Command } from 'commander';
import { checkRedis, parseRedisUrl } from '../queue/connection.js';
import { startWorker } from '../queue/worker.js';
import { intOption } from './options.js';

interface WorkerFlags { redis: string; devices?: string; concurrency: number; workdir: string; name?: string; lockSeconds: number }

export function registerWorker(program: Command): void {
  program.command('worker')
    .description('take jobs from a Redis queue (BullMQ): trainings, scorings, and profiles on the devices this machine holds')
    .requiredOption('--redis <url>', 'redis://[:password@]host[:port][/db], or rediss://… for TLS')
    .option('--devices <names>', 'devices this worker profiles on, comma-separated (each device\'s queue is served one job at a time)')
    .option('--concurrency <n>', 'trainings and scorings at a time (0: profiles only)', intOption('--concurrency', 0, 1024), 1)
    .option('--workdir <dir>', 'folder of the jobs\' run folders and of the datasets payloads name; jobs read and write only inside it', 'latnas-worker')
    .option('--name <name>', 'this worker\'s name in results and progress (default host:pid)')
    .option('--lock-seconds <s>', 'a job whose worker stops renewing its lock this long goes to another worker', intOption('--lock-seconds', 2, 3600), 30)
    .action(async (o: WorkerFlags) => {
      const redis = parseRedisUrl(o.redis);
      await checkRedis(redis);
      const devices = (o.devices ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
      const w = await startWorker({ redis, devices, concurrency: o.concurrency, workdir: o.workdir, name: o.name, lockMs: o.lockSeconds * 1000, say });
      // The ready line goes to stdout: scripts and tests wait for it.
      console.log(`latnas worker ${w.name}: serving ${w.queues.join(', ') || 'nothing (give --concurrency or --devices)'} on ${redis.shown}, workdir '${w.workdir}'`);
      await new Promise<void>((resolve) => {
        let closing = false;
        const stop = () => {
          if (closing) process.exit(130);
          closing = true;
          say('stopping: waiting for running jobs (again to kill)');
          w.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
