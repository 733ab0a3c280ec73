/**
 * What the browser tests share: a loopback server for a page, its files and onnxruntime-web's
 * dist under /ort/ (or at the root), and headless Debian Chromium launched with the flags this
 * machine's closed network needs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { CHROMIUM, ROOT } from './helpers.js';

export const ORT_WEB = join(ROOT, 'node_modules/onnxruntime-web/dist');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg',
};

/** Serves `files` by URL path; `/ort/NAME` (and, with `ortAtRoot`, `/NAME`) from onnxruntime-web's dist. */
export function serve(files: Record<string, () => Buffer | string>, ortAtRoot = false): Promise<Server> {
  const server = createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    let body: Buffer | string | undefined = files[url]?.();
    const ortName = url.startsWith('/ort/') ? url.slice(5) : ortAtRoot ? url.slice(1) : undefined;
    if (body === undefined && ortName !== undefined && !ortName.includes('..') && !ortName.includes('/')) {
      const f = join(ORT_WEB, ortName);
      if (ortName !== '' && existsSync(f)) body = readFileSync(f);
    }
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    const ext = url.slice(url.lastIndexOf('.'));
    res.writeHead(200, { 'content-type': TYPES[ext] ?? (url === '/' ? 'text/html' : 'application/octet-stream') }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export const urlOf = (server: Server, path = '/') => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM.path,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'],
  });
}
