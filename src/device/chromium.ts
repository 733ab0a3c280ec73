/**
 * A local headless Chromium for `browser.launch: 'chromium'` devices: playwright-core drives the
 * binary at `browser.executablePath` with a new, empty profile, opens the profiling page and
 * watches it (crash, exit, the last console errors for messages).
 */
import { existsSync } from 'node:fs';
import { fail } from '../errors.js';
import type { Device } from './device.js';

/** Chromium flags: headless, no sandbox (containers), no GPU, and nothing that phones home. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync',
];

export interface ChromiumHandle {
  version: string;
  consoleTail: string[];
  close(): Promise<void>;
}

export async function launchChromium(device: Device, url: string, onCrash: (why: string) => void): Promise<ChromiumHandle> {
  const b = device.browser!;
  if (!existsSync(b.executablePath)) {
    fail(`device '${device.name}': field 'browser.executablePath' is '${b.executablePath}', which does not exist; ` +
      "install Debian's chromium (apt-get install chromium) or point it at a Chromium binary");
  }
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch (e) {
    fail(`device '${device.name}' needs the npm package playwright-core to drive Chromium (${(e as Error).message}); run npm install`);
  }
  let browser: import('playwright-core').Browser;
  try {
    // launch() gives the browser a new, empty user-data-dir and removes it on close.
    browser = await pw.chromium.launch({ executablePath: b.executablePath, headless: true, args: CHROMIUM_ARGS, timeout: b.timeoutSeconds * 1000 });
  } catch (e) {
    fail(`device '${device.name}': Chromium at '${b.executablePath}' did not start (${(e as Error).message.split('\n')[0]})`);
  }
  let closing = false;
  const consoleTail: string[] = [];
  const keep = (line: string) => {
    consoleTail.push(line.slice(0, 300));
    if (consoleTail.length > 10) consoleTail.shift();
  };
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') keep(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => keep(`pageerror: ${e.message}`));
    page.on('crash', () => onCrash('the Chromium page crashed (out of memory?)'));
    browser.on('disconnected', () => { if (!closing) onCrash('Chromium exited'); });
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: b.timeoutSeconds * 1000 });
  } catch (e) {
    await browser.close().catch(() => undefined);
    fail(`device '${device.name}': Chromium could not open the profiling page (${(e as Error).message.split('\n')[0]})`);
  }
  return {
    version: browser.version(),
    consoleTail,
    close: async () => {
      // (Not removeAllListeners: Browser.close() then never resolves.)
      closing = true;
      await browser.close().catch(() => undefined);
    },
  };
}
