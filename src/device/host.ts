/**
 * This machine as a latency table's provenance describes a machine, and the comparison of the
 * two. A table predicts the machine it was made on: used on another CPU its latencies can be off
 * by any amount, so `latnas run` profiles afresh and the other commands warn.
 *
 * What is compared, for the local runtimes (onnxruntime-node, and onnxruntime-web inside Node):
 * the runtime's name and installed version, the OS platform (not the kernel release, which
 * changes with every update), the logical core count, the CPU model string and `cpuId`. The
 * model string alone is not enough: two different EPYC generations both report "AMD EPYC" in a
 * VM, so `cpuId` records vendor, family, model and stepping from /proc/cpuinfo. A table made
 * before `cpuId` existed counts as different: nothing shows it came from this CPU.
 *
 * Browser tables (their provenance written by the browser runtime, src/device/browser-provenance.ts)
 * describe the browser, not the machine that served the page, so the host is never compared with
 * them. The browser itself can only be compared once it is attached: `compareWithBrowser`
 * (lut-check) compares what the table's `provenance.browser` records with the page.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, platform, release } from 'node:os';
import { dirname, join } from 'node:path';

export interface HostProvenance {
  cpu: string;
  cpuId: string;
  cpuCount: number;
  arch: string;
  os: string;
  node: string;
}

/** The first processor's block of /proc/cpuinfo as key -> value. */
function firstProcessor(cpuinfo: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of cpuinfo.split('\n')) {
    if (line.trim() === '') {
      if (fields.size > 0) break;
      continue;
    }
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return fields;
}

/**
 * The CPU's identity, finer than its marketing name: on Linux "<vendor_id> family F model M
 * stepping S" (x86) or "ARM implementer I part P variant V revision R" from /proc/cpuinfo,
 * elsewhere the model string Node reports.
 */
export function cpuIdentity(cpuinfo?: string, fallback = cpus()[0]?.model.trim() || 'unknown'): string {
  let text = cpuinfo;
  if (text === undefined && platform() === 'linux') {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = undefined;
    }
  }
  if (text === undefined) return fallback;
  const f = firstProcessor(text);
  const vendor = f.get('vendor_id');
  if (vendor !== undefined && f.has('cpu family') && f.has('model')) {
    return `${vendor} family ${f.get('cpu family')} model ${f.get('model')} stepping ${f.get('stepping') ?? '?'}`;
  }
  if (f.has('CPU implementer') && f.has('CPU part')) {
    return `ARM implementer ${f.get('CPU implementer')} part ${f.get('CPU part')} variant ${f.get('CPU variant') ?? '?'} revision ${f.get('CPU revision') ?? '?'}`;
  }
  return fallback;
}

/** This machine, in the fields a table's provenance records. */
export function hostProvenance(): HostProvenance {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() || 'unknown',
    cpuId: cpuIdentity(),
    cpuCount: cpu.length,
    arch: process.arch,
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

/** The installed version of an onnxruntime package (its package.json, found from its entry point: onnxruntime-web does not export package.json). */
export function installedRuntimeVersion(name: string): string | undefined {
  if (name !== 'onnxruntime-node' && name !== 'onnxruntime-web') return undefined;
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name));
    for (;;) {
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg)) {
        const p = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
        if (p.name === name) return p.version;
      }
      const up = dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  } catch {
    return undefined;
  }
}

/** The provenance fields compared; the ones added later (cpuId, arch) are optional in old tables. */
export interface ComparedProvenance {
  runtime: string;
  runtimeVersion: string;
  cpu: string;
  cpuCount: number;
  os: string;
  cpuId?: string;
  arch?: string;
}

/** True for a table profiled in a browser: its cpu/os describe the browser, not a host. */
export function isBrowserTable(p: { runtime: string }): boolean {
  return p.runtime.endsWith('(browser)');
}

/**
 * How the machine a table was made on differs from this one, as readable phrases ([] when it
 * matches). `runtimeName` is the runtime the table's device uses here ('browser' compares
 * nothing: see the file comment).
 */
export function compareWithHost(
  p: ComparedProvenance,
  runtimeName: string,
  runtimeVersion = installedRuntimeVersion(runtimeName),
  host: HostProvenance = hostProvenance(),
): string[] {
  if (runtimeName === 'browser' || isBrowserTable(p)) return [];
  const diffs: string[] = [];
  const differ = (field: string, table: string | number, here: string | number) => {
    if (table !== here) diffs.push(`${field} '${table}' vs this machine's '${here}'`);
  };
  differ('runtime', p.runtime, runtimeName);
  if (runtimeVersion !== undefined) differ('runtimeVersion', p.runtimeVersion, runtimeVersion);
  differ('os', p.os.split(' ')[0] ?? '', platform());
  // arch was added with cpuId; cpuId already tells an old table's architecture apart.
  if (p.arch !== undefined) differ('arch', p.arch, host.arch);
  differ('cpuCount', p.cpuCount, host.cpuCount);
  differ('cpu', p.cpu, host.cpu);
  if (p.cpuId === undefined) diffs.push(`the table does not record cpuId, this machine's is '${host.cpuId}'`);
  else differ('cpuId', p.cpuId, host.cpuId);
  return diffs;
}

/** What a browser table records about its browser (provenance.browser), as far as it is compared. */
export interface RecordedBrowser { userAgent?: unknown; hardwareConcurrency?: unknown; ortVersion?: unknown; executionProvider?: unknown }

/** How the browser a table was profiled in differs from the page attached now ([] when it matches). */
export function compareWithBrowser(
  recorded: RecordedBrowser | undefined,
  page: { userAgent: string; hardwareConcurrency?: number; ortVersion: string; executionProvider: string },
): string[] {
  if (!recorded) return ['the table does not record a browser (it was not profiled in one)'];
  const diffs: string[] = [];
  const differ = (field: string, table: unknown, here: unknown) => {
    if (table !== here) diffs.push(`${field} '${String(table)}' vs the attached page's '${String(here)}'`);
  };
  differ('userAgent', recorded.userAgent, page.userAgent);
  differ('hardwareConcurrency', recorded.hardwareConcurrency, page.hardwareConcurrency);
  differ('ortVersion', recorded.ortVersion, page.ortVersion);
  differ('executionProvider', recorded.executionProvider, page.executionProvider);
  return diffs;
}

/**
 * One warning line for a table made on another machine, or undefined when it matches.
 * `then` says what the command does about it.
 */
export function otherMachineWarning(path: string, device: string, space: string, diffs: readonly string[], then?: string, where = 'on another machine'): string | undefined {
  if (diffs.length === 0) return undefined;
  return `latnas: warning: the table '${path}' was made ${where} (${diffs.join('; ')}); ` +
    (then ?? `its latencies may not hold here: profile this machine with \`latnas profile --device ${device} --space ${space}\``);
}

/**
 * For commands that use a table without re-profiling (predict, search, export, lut-check):
 * one warning line on stderr if the table was made on another machine, then they go on.
 * `runtimeName` is the device's runtime where the command knows the device, else the table's.
 */
export function warnIfOtherMachine(
  lut: { device: string; space: string; provenance: ComparedProvenance },
  path: string,
  runtimeName = lut.provenance.runtime,
  then?: string,
): void {
  const line = otherMachineWarning(path, lut.device, lut.space, compareWithHost(lut.provenance, runtimeName), then);
  if (line) process.stderr.write(`${line}\n`);
}
