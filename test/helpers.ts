import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FASHION_MNIST_DIR, fashionMnistInstalled } from '../src/datasets/load.js';
import { PACKAGE_ROOT } from '../src/paths.js';

// onnxruntime-node's telemetry leaves /tmp/.ses and an empty /tmp/mat-debug-<pid>.log behind
// in every process that creates a session. The CLI turns it off (src/cli/index.ts main); this does the
// same for tests that create sessions in-process (read at the first session, after this runs).
process.env['ORT_DISABLE_TELEMETRY'] ??= '1';

export const ROOT = PACKAGE_ROOT;
export const TINY_SPACE = join(ROOT, 'test/fixtures/tiny-space.json');

// Every folder tempDir() makes is removed when this test file's process exits. Cleanup hangs
// off the process, not a test context, because tempDir() is also called from before() hooks and
// at module scope, where there is no `t` to register t.after() on. node --test runs each file
// in its own process, so this is per file. (A process killed by a signal skips 'exit'.)
const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'latnas-test-'));
  made.push(d);
  return d;
}

export interface CliResult { code: number; stdout: string; stderr: string }

/**
 * stderr's lines without the warning a shipped table gives on a CPU other than the one it was
 * profiled on (src/device/host.ts): which machine runs the tests is not the behaviour under test.
 */
export function stderrLines(stderr: string): string[] {
  return stderr.trim().split('\n').filter((l) => !/^latnas: warning: the table '.*' was made on another machine/.test(l));
}

/** Runs the installed CLI entry point (bin/latnas.js) as a user would. */
export function cli(args: string[], cwd = ROOT): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/latnas.js'), ...args], { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A Debian package some tests need, and how to tell whether this machine has it. */
export interface SystemPackage {
  name: string;
  /** Looks at the real system (never an environment switch), so a skip means the package is really absent. */
  check: () => boolean;
  install: string;
}

export const CHROMIUM: SystemPackage & { path: string } = {
  name: 'chromium', path: '/usr/bin/chromium', check: () => existsSync('/usr/bin/chromium'), install: 'apt-get install -y chromium',
};

/** python3-onnx installs into Debian's own interpreter, so the check imports onnx there. */
export const PYTHON3_ONNX: SystemPackage & { python: string } = {
  name: 'python3-onnx', python: '/usr/bin/python3',
  check: () => existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0,
  install: 'apt-get install -y python3-onnx',
};

export const FASHION_MNIST: SystemPackage & { dir: string } = {
  name: 'dataset-fashion-mnist', dir: FASHION_MNIST_DIR, check: () => fashionMnistInstalled(), install: 'apt-get install -y dataset-fashion-mnist',
};

/**
 * For a node:test `skip` option: false when the package is installed, else the reason, which
 * carries the exact install line. Under CI=true a missing package throws instead, so the file
 * fails and the run cannot pass with the tests that need it silently skipped.
 */
export function requireSystem(pkg: SystemPackage): string | false {
  if (pkg.check()) return false;
  const reason = `needs Debian's ${pkg.name}: ${pkg.install}`;
  if (process.env['CI'] === 'true') throw new Error(`CI=true and this test ${reason}`);
  return reason;
}

/** redis-server for the job-queue tests: each starts its own on a loopback port (src/queue/local-redis.ts). */
export const REDIS_SERVER: SystemPackage = {
  name: 'redis-server', check: () => existsSync('/usr/bin/redis-server'), install: 'apt-get install -y redis-server',
};

/** openssl makes the private CA and certificate of the rediss:// (TLS) test. */
export const OPENSSL: SystemPackage = {
  name: 'openssl', check: () => existsSync('/usr/bin/openssl'), install: 'apt-get install -y openssl',
};
