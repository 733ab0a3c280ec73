/**
 * The agent's HTTP server: serves the profiling page, onnxruntime-web's dist files and the models,
 * and queues jobs for the one page that says hello first.
 *
 * Security: every path starts with a one-time random token (crypto.randomBytes, 128 bits); other
 * requests get 403. Bodies are size-bounded (413) and schema-checked with zod (400), and a request
 * target that is not a URL gets 400. Only one page may attach (409 for any other). The server
 * binds 127.0.0.1 unless told otherwise; with `--host 0.0.0.0` anyone on the LAN can connect, so
 * slow or idle clients are cut off (headers within 10 s, a whole request within 30 s: 408) and
 * connections are capped (see SERVER_LIMITS).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { fail } from '../errors.js';
import { firstIssue } from '../util/validate.js';
import { pageHtml, PAGE_JS } from './page.js';
import { HelloSchema, MAX_HELLO_BYTES, MAX_NEXT_BYTES, NextSchema, type Hello, type Job, type JobRequest, type PageConfig, type Result } from './protocol.js';

/** Long-poll window: an idle page gets 204 after this and asks again. */
const POLL_MS = 20_000;

/**
 * What one client may hold of the server. A page needs a few connections (the page, ORT's files,
 * a model, the long poll) and sends small requests; nothing it does comes near these. The request
 * timeouts cover receiving a request, not the answer, so the 20 s long poll is unaffected.
 */
export interface ServerLimits {
  /** Time to receive a request's headers (Node's headersTimeout; default 60 s). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (Node's requestTimeout; default 300 s). */
  requestTimeoutMs: number;
  /** Idle time before a kept-alive connection is closed. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic at all for this long is closed (longer than the long poll). */
  idleTimeoutMs: number;
  /** Open connections; more are refused (closed at once). */
  maxConnections: number;
  maxHeadersCount: number;
  /** Bytes of request headers (Node's maxHeaderSize; 431 beyond). */
  maxHeaderBytes: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 3 * POLL_MS,
  maxConnections: 32,
  maxHeadersCount: 64,
  maxHeaderBytes: 16 * 1024,
};

export interface AgentServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  config: PageConfig;
  title: string;
  /** Called once when a page attaches. */
  onHello?: (hello: Hello) => void;
  /** For tests: a fixed token. */
  token?: string;
  /** For tests: tighter (or looser) limits than SERVER_LIMITS. */
  limits?: Partial<ServerLimits>;
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface Pending { job: Job; resolve: (r: Result) => void; reject: (e: Error) => void }

function ortDistDir(): string {
  const main = createRequire(import.meta.url).resolve('onnxruntime-web');
  return dirname(main);
}

/** ORT's browser files: the bundles and the wasm binaries with their loaders. Nothing else is served from disk. */
const ORT_FILE = /^ort(?:[.-][A-Za-z0-9]+)*\.(?:min\.js|mjs|wasm)$/;

export class AgentServer {
  readonly token: string;
  private server: Server | undefined;
  private readonly ortDir = ortDistDir();
  private readonly models = new Map<string, Uint8Array>();
  private modelSeq = 0;
  private jobSeq = 0;
  private readonly queue: Pending[] = [];
  /** The job sent to the page and not yet answered. */
  private inflight: Pending | undefined;
  private waiter: { res: ServerResponse; timer: NodeJS.Timeout } | undefined;
  private pageId: string | undefined;
  hello: Hello | undefined;
  /** Date.now() of the page's last request. */
  lastSeen = 0;
  private closed = false;
  private readonly helloWaiters: ((h: Hello) => void)[] = [];
  /** Jobs submitted by kind, and runs asked for by time jobs. */
  readonly counts = { load: 0, time: 0, output: 0, release: 0, runs: 0 };

  constructor(private readonly opts: AgentServerOptions) {
    this.token = opts.token ?? randomBytes(16).toString('hex');
  }

  async listen(): Promise<string> {
    const limits = { ...SERVER_LIMITS, ...this.opts.limits };
    const server = createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // How often the two request timeouts are checked (Node's default, 30 s, would let them overrun by that much).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, limits.headersTimeoutMs / 4)),
    }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        // The client went away (or a request timeout closed its connection) while its body was read: no one to answer.
        if (req.destroyed && !(e instanceof HttpError)) return;
        const status = e instanceof HttpError ? e.status : 500;
        if (!res.headersSent) {
          // A body we refused may still be arriving: close the connection after answering rather than read it.
          res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...(status === 413 ? { connection: 'close' } : {}) });
          res.end(`${(e as Error).message}\n`);
        } else {
          res.destroy();
        }
      });
    });
    server.maxConnections = limits.maxConnections;
    server.maxHeadersCount = limits.maxHeadersCount;
    server.timeout = limits.idleTimeoutMs;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const notHere = `--host ${this.opts.host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its LAN addresses`;
      server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
        ? new Error(`port ${this.opts.port} on ${this.opts.host} is in use; pass another --port (0 picks a free one)`)
        : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' || e.code === 'EAI_NONAME' ? new Error(notHere)
          : e.code === 'EACCES' ? new Error(`port ${this.opts.port} on ${this.opts.host} needs privileges (ports below 1024 do); pass --port 1024 or above (0 picks a free one)`)
            : new Error(`cannot listen on ${this.opts.host}:${this.opts.port} (${e.code ?? e.message}); pass another --host or --port`)));
      server.listen(this.opts.port, this.opts.host, () => resolve());
    }).catch((e: Error) => fail(e.message));
    return this.url();
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The page's URL on the address the server is bound to. */
  url(host = this.opts.host): string {
    const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    return `http://${h.includes(':') ? `[${h}]` : h}:${this.port}/${this.token}/`;
  }

  /** Resolves when a page attaches. */
  waitForPage(): Promise<Hello> {
    if (this.hello) return Promise.resolve(this.hello);
    return new Promise((resolve) => this.helloWaiters.push(resolve));
  }

  /** Registers model bytes for the page to fetch once; returns the page-relative URL. */
  addModel(bytes: Uint8Array): string {
    const id = `m${++this.modelSeq}`;
    this.models.set(id, bytes);
    return `model/${id}`;
  }

  dropModel(url: string): void {
    this.models.delete(url.slice('model/'.length));
  }

  /** Queues a job for the page; resolves with its result (rejects on an error result or close). */
  submit(request: JobRequest): Promise<Result> {
    if (this.closed) return Promise.reject(new Error('the agent server is closed'));
    if (request.kind !== 'done') this.counts[request.kind]++;
    if (request.kind === 'time') this.counts.runs += request.runs;
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { ...request, id: ++this.jobSeq } as Job, resolve, reject });
      this.pump();
    });
  }

  /** Jobs queued or running. */
  get busy(): boolean {
    return this.queue.length > 0 || this.inflight !== undefined;
  }

  /** Fails every queued and running job (the page died or the run is stopping). */
  abort(error: Error): void {
    const all = [...(this.inflight ? [this.inflight] : []), ...this.queue.splice(0)];
    this.inflight = undefined;
    for (const p of all) p.reject(error);
  }

  /** Tells a waiting page it is done, fails what is left, and stops listening. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.waiter) {
      clearTimeout(this.waiter.timer);
      this.send(this.waiter.res, 200, { id: 0, kind: 'done' });
      this.waiter = undefined;
    }
    this.abort(new Error('the agent server closed'));
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 200).unref();
    });
  }

  private pump(): void {
    if (!this.waiter || this.inflight || this.queue.length === 0) return;
    const { res, timer } = this.waiter;
    this.waiter = undefined;
    clearTimeout(timer);
    this.inflight = this.queue.shift()!;
    this.send(res, 200, this.inflight.job);
  }

  private checkToken(path: string): string {
    const prefix = `/${this.token}/`;
    const got = Buffer.from(path.slice(0, prefix.length));
    const want = Buffer.from(prefix);
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new HttpError(403, 'forbidden: open the exact URL latnas printed (it carries a one-time token)');
    }
    return path.slice(prefix.length);
  }

  private headers(type: string, cache = 'no-store'): Record<string, string> {
    // Cross-origin isolation gives the page a 5 us clock and wasm threads (on localhost / https).
    return {
      'content-type': type, 'cache-control': cache,
      'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
    };
  }

  private send(res: ServerResponse, status: number, body?: unknown): void {
    if (body === undefined) {
      res.writeHead(status, this.headers('text/plain'));
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { ...this.headers('application/json'), 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://agent');
    } catch {
      throw new HttpError(400, `bad request target ${JSON.stringify((req.url ?? '').slice(0, 200))}: not a URL path; open the exact URL latnas printed`);
    }
    const route = this.checkToken(url.pathname);
    // HEAD is answered as GET (Node sends no body for it).
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    if (method === 'GET' && route === '') {
      res.writeHead(200, this.headers('text/html; charset=utf-8'));
      res.end(pageHtml(this.opts.config, this.opts.title));
      return;
    }
    if (method === 'GET' && route === 'page.js') {
      res.writeHead(200, this.headers('text/javascript; charset=utf-8'));
      res.end(PAGE_JS);
      return;
    }
    if (method === 'GET' && route.startsWith('ort/')) {
      const name = route.slice(4);
      const file = join(this.ortDir, name);
      if (!ORT_FILE.test(name) || !existsSync(file)) throw new HttpError(404, `no onnxruntime-web file '${name}'`);
      const type = name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8';
      res.writeHead(200, this.headers(type, 'private, max-age=3600'));
      res.end(readFileSync(file));
      return;
    }
    if (method === 'GET' && route.startsWith('model/')) {
      const bytes = this.models.get(route.slice(6));
      if (!bytes) throw new HttpError(404, `no model '${route}'`);
      res.writeHead(200, { ...this.headers('application/octet-stream'), 'content-length': String(bytes.length) });
      res.end(bytes);
      return;
    }
    if (method === 'POST' && route === 'hello') {
      const hello = parseBody(HelloSchema, await readBody(req, MAX_HELLO_BYTES), 'hello');
      if (this.pageId) throw new HttpError(409, 'another page is already profiling with this link; restart latnas to profile another device');
      this.pageId = randomBytes(8).toString('hex');
      this.hello = hello;
      this.lastSeen = Date.now();
      this.opts.onHello?.(hello);
      for (const w of this.helloWaiters.splice(0)) w(hello);
      this.send(res, 200, { page: this.pageId });
      return;
    }
    if (method === 'POST' && route === 'next') {
      const next = parseBody(NextSchema, await readBody(req, MAX_NEXT_BYTES), 'next');
      if (!this.pageId || next.page !== this.pageId) throw new HttpError(409, 'this page is not the one attached to the agent; reload the printed URL');
      this.lastSeen = Date.now();
      this.accept(next.result);
      if (this.closed) {
        this.send(res, 200, { id: 0, kind: 'done' });
        return;
      }
      if (this.waiter) {
        // A retried request replaces the old one (its connection is likely gone).
        clearTimeout(this.waiter.timer);
        this.send(this.waiter.res, 204);
      }
      const timer = setTimeout(() => {
        if (this.waiter?.res === res) this.waiter = undefined;
        this.send(res, 204);
      }, POLL_MS);
      this.waiter = { res, timer };
      res.on('close', () => {
        if (this.waiter?.res === res) {
          clearTimeout(timer);
          this.waiter = undefined;
        }
      });
      this.pump();
      return;
    }
    throw new HttpError(404, `no route ${method} /${route}`);
  }

  /** Takes a result: resolves its job. A request with no result while a job is out means the job was lost: resend it. */
  private accept(result: Result | undefined): void {
    const p = this.inflight;
    if (!p) return;
    if (!result) {
      this.queue.unshift(p);
      this.inflight = undefined;
      return;
    }
    if (result.job !== p.job.id) return; // a duplicate of an answer already taken
    this.inflight = undefined;
    if (result.kind === 'error') p.reject(new Error(result.error));
    else if (result.kind !== p.job.kind) p.reject(new Error(`the page answered job ${p.job.id} (${p.job.kind}) with a '${result.kind}' result`));
    else p.resolve(result);
  }
}

/** Reads a request body up to `limit` bytes (413 beyond). */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `payload too large: ${declared} bytes, the limit is ${limit}`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new HttpError(413, `payload too large: over ${limit} bytes`);
    parts.push(b);
  }
  return Buffer.concat(parts).toString('utf8');
}

function parseBody<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `${what}: body is not JSON (${(e as Error).message})`);
  }
  const r = schema.safeParse(data);
  if (!r.success) throw new HttpError(400, `${what}: ${firstIssue(r.error)}`);
  return r.data;
}
