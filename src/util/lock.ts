/**
 * Locks on run folders and tables, so two latnas processes never work on the same output: the
 * second one is refused with one line instead of both exiting 0 with one run silently lost.
 *
 * A lock is a small JSON file holding the owner's pid, created with O_EXCL (`wx`), so exactly one
 * process can create it. A lock whose pid no longer runs (a killed run) is stale: it is taken over
 * and said so on stderr. Locks are released when the work ends, on exit, and on SIGINT, SIGTERM
 * and SIGHUP (then the signal is raised again, so the process still dies of it).
 *
 * Written here rather than with proper-lockfile (npm, 4.1.2): that library decides staleness by an
 * mtime it refreshes from a timer, and TF.js training blocks the event loop for whole epochs, so
 * a live run's lock would look stale and be taken over. A dead pid is the staleness test that
 * cannot misfire on a busy process. Long loops yield to the event loop (yieldToEventLoop), so a
 * Ctrl-C is handled within a training step.
 */
import { closeSync, existsSync, linkSync, openSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fail } from '../errors.js';
import { checkOutputFile, checkOutputFolder, makeFolders } from './outdir.js';

/** `command`: the subcommand (`latnas train`), for messages; `argv`: the whole command line, for whoever opens the file. */
interface Owner { pid: number; host: string; command: string; argv?: string; started: string }

export interface Lock {
  /** The lock file. */
  readonly path: string;
  release(): void;
}

/** The lock file of a run folder: inside it, so it goes wherever the folder goes. */
export const FOLDER_LOCK = 'latnas.lock';

/** Lock files this process holds, with how many times each was taken (the pipeline's export locks the run folder it already holds). */
const held = new Map<string, { count: number; owner: Owner; createdDir?: string }>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function readOwner(path: string): Owner | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (typeof o.pid === 'number' && Number.isInteger(o.pid) && o.pid > 0) return { pid: o.pid, host: String(o.host ?? ''), command: String(o.command ?? ''), started: String(o.started ?? '') };
  } catch { /* fall through */ }
  return 'unreadable';
}

/** Whether a pid runs on this machine. EPERM: it runs, as another user. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function releaseAll(): void {
  for (const [path, h] of held) unlock(path, h);
  held.clear();
  removeSignalHandlers();
}

/** Removes our lock file, and the folder taking the lock created if nothing else was put in it: a refused run leaves nothing behind. */
function unlock(path: string, h: { owner: Owner; createdDir?: string }): void {
  removeIfOurs(path, h.owner);
  if (h.createdDir) {
    try { rmdirSync(h.createdDir); } catch { /* not empty: the run wrote something */ }
  }
}

/** Deletes a lock file only if it is still ours: a lock taken over by someone else is theirs. */
function removeIfOurs(path: string, owner: Owner): void {
  const now = readOwner(path);
  if (typeof now === 'object' && now.pid === owner.pid && now.started === owner.started) rmSync(path, { force: true });
}

function onSignal(signal: NodeJS.Signals): void {
  releaseAll();
  // Die of the signal as if no handler had been installed, unless someone else handles it too.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let handlersInstalled = false;
function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}
function removeSignalHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  for (const s of SIGNALS) process.off(s, onSignal);
}
process.on('exit', releaseAll);

/**
 * Takes the lock file `path` (its folder is created). `what` names the locked thing in messages,
 * e.g. "run folder 'runs/a'"; `fix` says what to do instead of waiting.
 */
export function acquireLock(lockPath: string, what: string, fix: string): Lock {
  // Keyed by absolute path: the pipeline's `runs/a` and its export's resolved folder are one lock.
  const path = resolve(lockPath);
  const mine = held.get(path);
  if (mine) {
    mine.count++;
    return lockHandle(path);
  }
  const owner: Owner = {
    pid: process.pid, host: hostname(), command: `latnas ${process.argv[2] ?? ''}`.trim(), argv: process.argv.slice(2).join(' '), started: new Date().toISOString(),
  };
  const dir = dirname(path);
  const createdDir = existsSync(dir) ? undefined : dir;
  try {
    makeFolders(dir);
  } catch (e) {
    fail(`cannot create the folder of ${what} (${(e as NodeJS.ErrnoException).code ?? String(e)}); ${fix}`);
  }
  // 200 tries: enough to outwait (20 ms apart) a lock file its owner has created but not yet written, which is judged stale only after 2 s.
  for (let attempt = 0; attempt < 200; attempt++) {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx');
      writeSync(fd, `${JSON.stringify(owner)}\n`);
      closeSync(fd);
      fd = undefined;
      held.set(path, { count: 1, owner, createdDir });
      installSignalHandlers();
      return lockHandle(path);
    } catch (e) {
      if (fd !== undefined) {
        // Created but not written (a full disk): ours to remove, or it would look like a crashed owner's.
        closeSync(fd);
        rmSync(path, { force: true });
      }
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') fail(`cannot create the lock file '${lockPath}' of ${what} (${code ?? String(e)}); ${fix}`);
    }
    const other = readOwner(path);
    if (other === 'missing') continue;
    if (other === 'unreadable') {
      // Created but not yet written by its owner (a few microseconds), or truncated by a crash
      // between create and write: wait a little, then treat an old empty file as stale.
      let age = 0;
      try { age = Date.now() - statSync(path).mtimeMs; } catch { continue; }
      if (age < 2000) { sleepMs(20); continue; }
      if (takeOver(path, undefined)) process.stderr.write(`latnas: taking over the unreadable lock file '${lockPath}' of ${what} (left by a crashed process)\n`);
      continue;
    }
    // Our own pid in a lock we do not hold is a dead process's: pids are reused (in a container every run may get the same one).
    const ours = other.pid === process.pid && other.host === hostname();
    if (!ours && (other.host !== hostname() || alive(other.pid))) {
      const by = `process ${other.pid}${other.host !== hostname() ? ` on ${other.host}` : ''}`;
      fail(`${what} is in use by ${by} (${other.command || 'latnas'}, since ${other.started}); wait for it to finish or ${fix} (if no such process runs, delete '${lockPath}')`);
    }
    if (takeOver(path, other)) {
      process.stderr.write(`latnas: taking over the stale lock '${lockPath}' of ${what}: process ${other.pid} (${other.command || 'latnas'}, since ${other.started}) is no longer running\n`);
    }
  }
  fail(`cannot take the lock '${lockPath}' of ${what}: other processes keep taking it; ${fix}`);
}

/**
 * Removes a stale lock so the next O_EXCL create can win. The stale file is first renamed to a
 * name of our own: of several processes taking over at once only one rename finds it. If what we
 * renamed is not the stale lock we judged (someone took it over in between), it goes back.
 */
function takeOver(path: string, stale: Owner | undefined): boolean {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch {
    return false;
  }
  const got = readOwner(aside);
  const same = stale === undefined ? typeof got !== 'object' : typeof got === 'object' && got.pid === stale.pid && got.started === stale.started;
  if (!same) {
    try { linkSync(aside, path); } catch { /* a new lock is there already: it wins */ }
  }
  rmSync(aside, { force: true });
  return same;
}

function lockHandle(path: string): Lock {
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      const h = held.get(path);
      if (!h) return;
      if (--h.count > 0) return;
      held.delete(path);
      unlock(path, h);
      if (held.size === 0) removeSignalHandlers();
    },
  };
}

/** Locks a run folder (created if missing) for the whole of a command's work on it. */
export function lockFolder(dir: string, option = '--out'): Lock {
  // An --out that is a file, under a file or on a read-only mount: one line naming it, before the lock's own mkdir.
  checkOutputFolder(dir, option);
  return acquireLock(join(dir, FOLDER_LOCK), `run folder '${dir}'`, `choose another ${option}`);
}

/** Locks one output file (a table) through `FILE.lock` beside it. */
export function lockFile(file: string, what: string, option = '--out'): Lock {
  checkOutputFile(file, option, 'table.json');
  return acquireLock(`${file}.lock`, `${what} '${file}'`, `choose another ${option}`);
}

/** Runs `work` holding `lock`, releasing it however `work` ends. */
export async function withLock<T>(lock: Lock, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } finally {
    lock.release();
  }
}

/**
 * Lets the event loop run: signal handlers (Ctrl-C releasing the locks) only run when it does,
 * and a training epoch is otherwise one synchronous stretch of minutes.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

