/**
 * The runtimes by name: one opener per value of a device's `runtime` field, so a runtime the
 * device schema allows cannot lack one (the type checker asks for it). Adding a runtime means a
 * file beside ort.ts and browser.ts implementing `Runtime` (interface.ts), its name in the device
 * schema (device.ts) and its line here.
 */
import { fail } from '../errors.js';
import { openBrowser } from './browser.js';
import type { Device } from './device.js';
import type { Runtime } from './interface.js';
import { openOrtNode, openOrtWeb } from './ort.js';

export type { Runtime, RuntimeProvenance, TimedSession } from './interface.js';

const OPENERS: Record<Device['runtime'], (device: Device) => Promise<Runtime>> = {
  'onnxruntime-node': openOrtNode,
  'onnxruntime-web': openOrtWeb,
  browser: openBrowser,
};

/** Runtimes being opened, and the opened ones that hold something open (a browser runtime's server and page). */
const opening = new Set<Promise<Runtime>>();
const holding = new Set<Runtime>();

export async function openRuntime(device: Device): Promise<Runtime> {
  if (!Object.hasOwn(OPENERS, device.runtime)) {
    fail(`device '${device.name}': field 'runtime' is '${String(device.runtime)}'; use one of ${Object.keys(OPENERS).join(', ')}`);
  }
  const p = OPENERS[device.runtime](device);
  opening.add(p);
  try {
    const runtime = await p;
    if (runtime.close) holding.add(runtime);
    return runtime;
  } finally {
    opening.delete(p);
  }
}

/** Closes every runtime this process opened that holds something open (the CLI does this before it exits). */
export async function closeRuntimes(): Promise<void> {
  await Promise.all([...opening].map((p) => p.catch(() => undefined)));
  const all = [...holding];
  holding.clear();
  await Promise.all(all.map((runtime) => runtime.close?.()));
}
