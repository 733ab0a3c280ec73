/**
 * A browser table's provenance: the device is the browser, not the machine serving the page. The
 * cpu/os fields come from the page's hints, the full page report goes under `browser`, and the
 * serving machine's fields under `host` (its cpuId and arch are not top-level, so nothing
 * compares the browser's table with that machine: see src/device/host.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Hello } from '../agent/protocol.js';
import type { HostProvenance } from './host.js';
import type { RuntimeProvenance } from './interface.js';

/** What is known of the attached page: how it was opened, and what it said when it attached. */
export interface BrowserInfo {
  launch: 'chromium' | 'none';
  executablePath?: string;
  browserVersion?: string;
  page: Hello;
  url: string;
}

/** The provenance a browser runtime records: the page `info` describes, served by `host`. */
export function browserProvenance(info: BrowserInfo, host: HostProvenance): RuntimeProvenance {
  const h = info.page;
  const ua = h.uaData;
  return {
    cpu: [ua?.model, ua?.architecture && `${ua.architecture}${ua.bitness ? `-${ua.bitness}` : ''}`, h.platform].filter(Boolean).join(', ')
      || 'unknown (browser)',
    cpuCount: h.hardwareConcurrency ?? 0,
    os: ua?.platform ? `${ua.platform} ${ua.platformVersion ?? ''}`.trim() : (h.platform ?? 'unknown'),
    // The table schema's `node`: the Node.js that ran the profiler (a page runs none).
    node: host.node,
    threads: h.wasmThreads,
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
    // The machine that served the page and ran the profiler.
    host: { cpu: host.cpu, cpuId: host.cpuId, cpuCount: host.cpuCount, arch: host.arch, os: host.os, node: host.node },
  };
}

/** What a table records about the browser it was profiled in (`provenance.browser`), if any. */
export function tableBrowser(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const b = (JSON.parse(readFileSync(path, 'utf8')) as { provenance?: { browser?: unknown } }).provenance?.browser;
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
