/**
 * A `Runtime` whose sessions live in a web page: the profiler and lut-check run unchanged, and
 * every session call becomes a job for the page (see src/agent/server.ts and protocol.ts).
 *
 * Timing: the profiler calls `timeOnce()` once per run. One HTTP round trip per run would put the
 * network between runs, so a session times a whole *visit* in the page at once: the profiler
 * visits a model for its warm-up runs, then once per round for one untimed run plus
 * `runsPerRound` timed runs, always back to back. The first `timeOnce()` of a visit asks the page
 * for that many runs, timed one by one with performance.now(); the next calls return the buffered
 * samples. Calling another session (or releasing) ends the visit; runs left over are dropped. If
 * a visit turns out longer than the batch, another batch is fetched, and each session's batch size follows
 * the visit length the profiler actually uses for it (a `--runs` override; the sentinel's shorter visits).
 *
 * The page is served by the agent server (src/agent/server.ts), opened by a launched Chromium
 * (chromium.ts) or by any browser that opens the printed URL. A table profiled here records the
 * browser as its device (browser-provenance.ts).
 */
import { networkInterfaces } from 'node:os';
import type { Hello, JobRequest, Result } from '../agent/protocol.js';
import { AgentServer } from '../agent/server.js';
import { fail } from '../errors.js';
import type { Shape } from '../space/ir.js';
import { browserProvenance, type BrowserInfo } from './browser-provenance.js';
import { launchChromium, type ChromiumHandle } from './chromium.js';
import type { Device } from './device.js';
import { hostProvenance } from './host.js';
import type { Runtime, RuntimeProvenance, TimedSession } from './interface.js';

export interface BrowserRuntime extends Runtime {
  readonly info: BrowserInfo;
  readonly server: AgentServer;
  readonly usable: boolean;
  close(): Promise<void>;
}

type Log = (line: string) => void;
const stderrLog: Log = (line) => process.stderr.write(`${line}\n`);

/** A one-line description of the attached page. */
function describePage(h: Hello): string {
  const hw = [
    h.hardwareConcurrency !== undefined ? `${h.hardwareConcurrency} logical cores` : undefined,
    h.deviceMemory !== undefined ? `${h.deviceMemory} GB` : undefined,
    h.uaData?.model ? `model ${h.uaData.model}` : undefined,
  ].filter(Boolean).join(', ');
  return `${h.userAgent} [${hw || 'no hardware hints'}; onnxruntime-web ${h.ortVersion} ${h.executionProvider}, ${h.wasmThreads} thread(s), ` +
    `clock step ${(h.clockResolutionMs * 1000).toFixed(1)} us, ${h.crossOriginIsolated ? '' : 'not '}cross-origin isolated${h.webgpu ? ', WebGPU adapter' : ''}]`;
}

function lanAddresses(): string[] {
  return Object.values(networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4' && !a.internal).map((a) => a!.address);
}

class RemoteSession implements TimedSession {
  private buffer: number[] = [];
  /**
   * Runs fetched per batch after the warm-up: learnt per session, since the profiler's visits
   * differ by model (the sentinel's visits are 3-10 runs, a model's one untimed run plus the
   * device's runs per round); one length shared by all sessions kept changing and split visits.
   */
  private batch: number;
  /** Visits so far (the first is the warm-up) and calls in the current one. */
  visits = 0;
  private visitCalls = 0;

  constructor(private readonly rt: AgentRuntime, readonly id: number) {
    this.batch = rt.batch;
  }

  beginVisit(): void {
    this.visits++;
    this.visitCalls = 0;
    this.buffer = [];
  }

  endVisit(): void {
    this.buffer = [];
    if (this.visits === 1 && this.rt.warmup > 0) this.rt.learnWarmup(this.visitCalls);
    else this.learnVisit(this.visitCalls);
  }

  async timeOnce(): Promise<number> {
    const rt = this.rt;
    if (rt.current !== this) {
      rt.current?.endVisit();
      rt.current = this;
      this.beginVisit();
    }
    if (this.buffer.length === 0) {
      const runs = this.visits === 1 && this.visitCalls === 0 && rt.warmup > 0 ? rt.warmup : this.batch;
      const r = await rt.call({ kind: 'time', session: this.id, runs });
      if (r.kind !== 'time' || r.samples.length !== runs) fail(`the browser page returned ${r.kind === 'time' ? r.samples.length : 0} samples for ${runs} runs`);
      this.buffer = r.samples;
    }
    this.visitCalls++;
    return this.buffer.shift()!;
  }

  /** A visit of `n` calls ended: follow the profiler's visit length (a visit that is a whole multiple is two visits in a row). */
  private learnVisit(n: number): void {
    if (n > 0 && (n < this.batch || n % this.batch !== 0)) this.batch = n;
  }

  async output(): Promise<Float32Array> {
    const r = await this.rt.call({ kind: 'output', session: this.id });
    if (r.kind !== 'output') fail('the browser page answered an output job with something else');
    const bytes = Buffer.from(r.output, 'base64');
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  async release(): Promise<void> {
    if (this.rt.current === this) this.rt.current = undefined;
    if (!this.rt.usable) return;
    await this.rt.call({ kind: 'release', session: this.id });
  }
}

class AgentRuntime implements BrowserRuntime {
  readonly name = 'onnxruntime-web (browser)';
  current: RemoteSession | undefined;
  /** A new session's runs per visit after the warm-up: one untimed run plus the device's runs per round. */
  readonly batch: number;
  /** Runs of a session's first visit (the warm-up), from the device until visits show otherwise. */
  warmup: number;
  private sessions = 0;
  private dead: string | undefined;
  chromium: ChromiumHandle | undefined;
  info!: BrowserInfo;

  constructor(readonly device: Device, readonly server: AgentServer, private readonly log: Log) {
    this.batch = 1 + device.runsPerRound;
    this.warmup = device.warmup;
  }

  get version(): string {
    return this.info.page.ortVersion;
  }

  get usable(): boolean {
    return this.dead === undefined;
  }

  provenance(): RuntimeProvenance {
    return browserProvenance(this.info, hostProvenance());
  }

  /** A warm-up visit of `n` calls ended (one session is warmed up once, so no two are in a row). */
  learnWarmup(n: number): void {
    if (n > 0) this.warmup = n;
  }

  kill(why: string): void {
    if (this.dead) return;
    this.dead = why;
    this.server.abort(new Error(why));
  }

  async call(request: JobRequest): Promise<Result> {
    if (this.dead) fail(`device '${this.device.name}': ${this.dead}`);
    const b = this.device.browser!;
    const job = this.server.submit(request);
    let timer: NodeJS.Timeout | undefined;
    let watch: NodeJS.Timeout | undefined;
    const limits: Promise<never>[] = [];
    if (b.launch === 'chromium') {
      limits.push(new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const why = `the page did not answer a '${request.kind}' job within ${b.timeoutSeconds} s`;
          this.kill(why);
          reject(new Error(why));
        }, b.timeoutSeconds * 1000);
      }));
    } else {
      // A phone that sleeps stops polling; say so, and keep waiting for it.
      let warned = 0;
      watch = setInterval(() => {
        const silent = (Date.now() - this.server.lastSeen) / 1000;
        if (silent > 30 && Date.now() - warned > 60_000) {
          warned = Date.now();
          this.log(`latnas agent: the device has not polled for ${silent.toFixed(0)} s; keep its tab in front and the screen on (Ctrl-C and --resume continue later)`);
        }
      }, 5000);
    }
    try {
      return await Promise.race([job, ...limits]);
    } catch (e) {
      const msg = (e as Error).message;
      const tail = this.chromium?.consoleTail.length ? `; page console: ${this.chromium.consoleTail.slice(-3).join(' | ')}` : '';
      fail(`device '${this.device.name}': ${request.kind} job failed in the browser: ${msg}${tail}`);
    } finally {
      clearTimeout(timer);
      clearInterval(watch);
    }
  }

  async createSession(model: Uint8Array, input: Shape): Promise<TimedSession> {
    const session = new RemoteSession(this, ++this.sessions);
    const url = this.server.addModel(model);
    try {
      await this.call({ kind: 'load', session: session.id, model: url, input: [input.c, input.h, input.w] });
    } finally {
      this.server.dropModel(url);
    }
    return session;
  }

  async close(): Promise<void> {
    this.dead ??= 'closed';
    await this.server.close();
    await this.chromium?.close();
  }
}

/**
 * Starts the agent server for a browser device and waits for its page: a launched headless
 * Chromium (`browser.launch: 'chromium'`), or any browser that opens the printed URL (`'none'`).
 */
async function openBrowserRuntime(device: Device, log: Log = stderrLog): Promise<BrowserRuntime> {
  const b = device.browser;
  if (device.runtime !== 'browser' || !b) fail(`device '${device.name}' is not a browser device`);
  const ep = device.executionProvider === 'webgpu' ? 'webgpu' : 'wasm';
  const server = new AgentServer({
    host: b.host, port: b.port, title: device.name,
    config: { executionProvider: ep, threads: device.threads, graphOptimizationLevel: device.graphOptimizationLevel },
    onHello: (h) => log(`latnas agent: device attached: ${describePage(h)}`),
  });
  const url = await server.listen();
  const runtime = new AgentRuntime(device, server, log);
  try {
    if (b.launch === 'chromium') {
      runtime.chromium = await launchChromium(device, url, (why) => runtime.kill(why));
      let timer: NodeJS.Timeout | undefined;
      const hello = await Promise.race([
        server.waitForPage(),
        new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), b.timeoutSeconds * 1000); }),
      ]);
      clearTimeout(timer);
      if (!hello) {
        const tail = runtime.chromium.consoleTail.join(' | ');
        fail(`device '${device.name}': the Chromium page did not attach within ${b.timeoutSeconds} s${tail ? ` (page console: ${tail})` : ''}`);
      }
    } else {
      const lan = lanAddresses();
      const open = b.host === '0.0.0.0' || b.host === '::'
        ? (lan.length > 0 ? lan : ['<this machine\'s LAN address>']).map((a) => server.url(a)).concat(server.url('127.0.0.1'))
        : [url];
      log(`latnas agent: open this URL in the browser of the device to profile (keep the tab in front and the screen on):`);
      for (const u of open) log(`  ${u}`);
      if (b.host === '127.0.0.1' || b.host === 'localhost') {
        log(`  (listening on ${b.host} only; for a phone or tablet on your LAN, pass --host 0.0.0.0 and open the LAN address it prints.` +
          ` Over plain http on a LAN the page is not cross-origin isolated: its clock is coarse (about 0.1 ms), so it times groups of runs.)`);
      }
      let waited = 0;
      const ticker = setInterval(() => { waited += 60; log(`latnas agent: still waiting for a browser to open the URL (${waited / 60} min)`); }, 60_000);
      try {
        await server.waitForPage();
      } finally {
        clearInterval(ticker);
      }
    }
    const hello = server.hello!;
    runtime.info = { launch: b.launch, executablePath: b.launch === 'chromium' ? b.executablePath : undefined, browserVersion: runtime.chromium?.version, page: hello, url };
    if (ep === 'webgpu' && !hello.webgpu) {
      fail(`device '${device.name}': executionProvider is 'webgpu' but the browser found no WebGPU adapter (${hello.userAgent}); use 'wasm' (latnas agent --ep wasm)`);
    }
    return runtime;
  } catch (e) {
    await runtime.close();
    throw e;
  }
}

/**
 * Browser runtimes stay open for the process (one page serves profile and lut-check in turn, and
 * a phone is attached once): one per device descriptor, opened again only once its page died or
 * it was closed (src/device/runtime.ts `closeRuntimes`).
 */
const attached = new Map<string, Promise<BrowserRuntime>>();

/** The browser runtime of `device`, attached once per process. */
export async function openBrowser(device: Device): Promise<BrowserRuntime> {
  const key = JSON.stringify(device);
  const opened = attached.get(key);
  if (opened) {
    const rt = await opened.catch(() => undefined);
    if (rt && rt.usable) return rt;
    attached.delete(key);
  }
  const p = openBrowserRuntime(device);
  attached.set(key, p);
  p.catch(() => attached.delete(key));
  return p;
}
