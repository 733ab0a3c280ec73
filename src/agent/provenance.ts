/**
 * A browser table's provenance: the device is the browser, not the machine serving the page. The
 * profiler writes the host's cpu/os; this rewrites them from the page's hints and keeps the
 * host's under `host`, with the full page report under `browser`.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Device } from '../device/device.js';
import { openRuntime } from '../device/runtime.js';
import { fail } from '../errors.js';
import { writeJsonAtomic } from '../util/files.js';
import { readJsonFile } from '../util/validate.js';
import type { BrowserInfo, BrowserRuntime } from './runtime.js';

type Provenance = Record<string, unknown> & { cpu?: unknown; cpuCount?: unknown; os?: unknown; node?: unknown; host?: unknown; browser?: unknown };

export function browserProvenance(info: BrowserInfo, prior: Provenance): Provenance {
  const h = info.page;
  const ua = h.uaData;
  return {
    ...prior,
    cpu: [ua?.model, ua?.architecture && `${ua.architecture}${ua.bitness ? `-${ua.bitness}` : ''}`, h.platform].filter(Boolean).join(', ') || 'unknown (browser)',
    cpuCount: h.hardwareConcurrency ?? 0,
    os: ua?.platform ? `${ua.platform} ${ua.platformVersion ?? ''}`.trim() : (h.platform ?? 'unknown'),
    threads: h.wasmThreads,
    // cpuId and arch came from the machine serving the page: they move under host (undefined
    // drops them from the JSON), so nothing compares the browser's table with that machine.
    cpuId: undefined,
    arch: undefined,
    browser: {
      userAgent: h.userAgent,
      platform: h.platform,
      hardwareConcurrency: h.hardwareConcurrency,
      deviceMemoryGB: h.deviceMemory,
      uaData: ua,
      ortVersion: h.ortVersion,
      executionProvider: h.executionProvider,
      webgpu: h.webgpu,
      webgpuAdapter: h.webgpuAdapter,
      crossOriginIsolated: h.crossOriginIsolated,
      wasmThreads: h.wasmThreads,
      clockResolutionMs: h.clockResolutionMs,
      launch: info.launch,
      executablePath: info.executablePath,
      browserVersion: info.browserVersion,
    },
    // The machine that served the page and ran the profiler (kept from an earlier stamp).
    host: prior.host ?? { cpu: prior.cpu, cpuId: prior.cpuId, cpuCount: prior.cpuCount, arch: prior.arch, os: prior.os, node: prior.node },
  };
}

/** What a table records about the browser it was profiled in (`provenance.browser`), if any. */
export function tableBrowser(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const b = (JSON.parse(readFileSync(path, 'utf8')) as { provenance?: Provenance }).provenance?.browser;
    return b && typeof b === 'object' ? (b as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The user agent a table was profiled on, if it was profiled in a browser. */
export function tableUserAgent(path: string): string | undefined {
  const ua = tableBrowser(path)?.['userAgent'];
  return typeof ua === 'string' ? ua : undefined;
}

/** Rewrites a browser device's table provenance from the page that profiled it (the runtime open in this process). */
export async function stampBrowserProvenance(device: Device, path: string): Promise<void> {
  if (device.runtime !== 'browser' || !existsSync(path)) return;
  const rt = (await openRuntime(device)) as BrowserRuntime;
  const data = readJsonFile(path, 'LUT');
  const fix = 'profile it again with --force';
  if (!data || typeof data !== 'object' || Array.isArray(data)) fail(`LUT file '${path}' is not a latency table (field '(top level)' is not an object); ${fix}`);
  const lut = data as { provenance?: unknown };
  if (!lut.provenance || typeof lut.provenance !== 'object' || Array.isArray(lut.provenance)) fail(`LUT file '${path}': field 'provenance' is missing or not an object; ${fix}`);
  lut.provenance = browserProvenance(rt.info, lut.provenance as Provenance);
  writeJsonAtomic(path, lut);
}
