import cliProgress from 'cli-progress';

export interface Progress {
  increment(n?: number, status?: string): void;
  stop(): void;
}

/**
 * A progress bar on a terminal (cli-progress); on a pipe or in CI, a plain line every 10%, so
 * logs show progress without control characters. Silent when `quiet`.
 */
export function progress(label: string, total: number, quiet = false): Progress {
  if (quiet || total <= 0) return { increment() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {value}/{total} {percentage}% | eta {eta_formatted} | {status}`,
      stream: process.stderr,
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { status: '' });
    return {
      increment: (n = 1, status = '') => bar.increment(n, { status }),
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  let nextReport = 0.1;
  const started = Date.now();
  return {
    increment(n = 1, status = '') {
      done += n;
      if (done / total >= nextReport || done === total) {
        const s = ((Date.now() - started) / 1000).toFixed(1);
        process.stderr.write(`${label}: ${done}/${total} (${Math.round((100 * done) / total)}%) ${s}s ${status}\n`);
        while (done / total >= nextReport) nextReport += 0.1;
      }
    },
    stop() {},
  };
}
