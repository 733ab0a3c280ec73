/**
 * The sentinel gate on a simulated machine: a virtual clock that every run advances, with load
 * bursts (everything slower, light models the most) and a slow drift, as measured on this
 * project's machines (src/profiler/timing.ts). Real timing noise is a benchmark's business
 * (bench:lut-accuracy); here the machine is known, so the estimates can be held to it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TimedSession } from '../src/device/runtime.js';
import { loadDevice } from '../src/device/device.js';
import { pinnedMap } from '../src/profiler/measure.js';
import { fitRoundsFor } from '../src/profiler/profile.js';
import { normalized, Sentinel, timeGated, type TimingPlan } from '../src/profiler/timing.js';
import { Rng } from '../src/util/rng.js';
import { quantile } from '../src/util/stats.js';

interface Machine { clock: number; slowdown(ms: number): number }

/** The sentinel on the simulated clock, with a quiet-level window of 300 simulated ms (the real one: 10 s). */
const sentinelOn = (m: Machine, rng: Rng) => new Sentinel(session(m, 0.09, rng), () => m.clock / 1000, 0.3);

/** Bursts of +60% (light) to +30% (heavy) for `burst` ms out of every `period` ms, on top of `drift`. */
function machine(period: number, burst: number, drift = () => 1): Machine {
  const m: Machine = {
    clock: 0,
    slowdown(ms) {
      const inBurst = m.clock % period > period - burst;
      const extra = inBurst ? 0.3 + 0.3 * Math.min(1, 0.2 / ms) : 0;
      return drift() * (1 + extra);
    },
  };
  return m;
}

function session(m: Machine, ms: number, rng: Rng): TimedSession {
  return {
    async timeOnce() {
      const t = ms * m.slowdown(ms) * (1 + 0.01 * rng.next());
      m.clock += t;
      return t;
    },
    async output() { return new Float32Array(1); },
    async release() {},
  };
}

const PLAN: TimingPlan = { rounds: 20, runsPerRound: 5, warmup: 0, gateTolerance: 0.08, maxVisitFactor: 4 };
const TRUE_MS = [0.1, 0.15, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.6];

async function estimate(m: Machine, plan: TimingPlan, gate: boolean) {
  const rng = new Rng(3);
  const sessions = TRUE_MS.map((ms) => session(m, ms, rng));
  const sentinel = sentinelOn(m, rng);
  await sentinel.prime(100);
  const t = await timeGated(sessions, gate ? sentinel : undefined, plan, new Rng(5));
  return { est: t.samples.map((r) => quantile(r, 0.25)), counts: t.samples.map((r) => r.length), stats: t.stats };
}

const worstErrPct = (est: number[]) => Math.max(...est.map((e, i) => Math.abs(e / TRUE_MS[i]! - 1) * 100));

test('gate: a burst longer than a whole measurement is taken out; without the gate it is the measurement', async () => {
  // A 400 ms burst every second, and the measurement (~0.4 s) starts as one begins: ungated, nearly
  // every run is slow. The sentinel's level comes from the quiet second before (its window is 3 s).
  const run = async (gate: boolean) => {
    const m = machine(1000, 400);
    const rng = new Rng(3);
    const sessions = TRUE_MS.map((ms) => session(m, ms, rng));
    const sentinel = new Sentinel(session(m, 0.09, rng), () => m.clock / 1000, 3);
    await sentinel.prime(300);
    m.clock = 600;
    const t = await timeGated(sessions, gate ? sentinel : undefined, { ...PLAN, rounds: 10 }, new Rng(5));
    return { est: t.samples.map((r) => quantile(r, 0.25)), stats: t.stats };
  };
  const gated = await run(true);
  const ungated = await run(false);
  assert.ok(worstErrPct(gated.est) < 3, `gated worst error ${worstErrPct(gated.est).toFixed(2)}%`);
  assert.ok(worstErrPct(ungated.est) > 20, `ungated worst error ${worstErrPct(ungated.est).toFixed(2)}%`);
  assert.ok(gated.stats.accepted < gated.stats.visits, 'the burst\'s visits were rejected and taken again');
  assert.equal(gated.stats.accepted, TRUE_MS.length * 10, 'every model got its rounds of accepted visits');
  assert.equal(gated.stats.unsettled, 0);
});

test('gate: a machine that never settles hits the visit cap, and says so', async () => {
  // Every run 0-60% slower at random: no state lasts long enough to bracket a visit with two quiet sentinel samples.
  const erratic = new Rng(11);
  const m: Machine = { clock: 0, slowdown: () => 1 + 0.6 * erratic.next() };
  const r = await estimate(m, { ...PLAN, rounds: 5 }, true);
  assert.ok(r.stats.unsettled > 0, 'some models never reached their accepted visits');
  assert.ok(r.stats.visits <= TRUE_MS.length * 5 * PLAN.maxVisitFactor, `visits ${r.stats.visits} within the cap`);
  assert.ok(r.est.every((e) => Number.isFinite(e) && e > 0), 'every model still has a latency');
  assert.deepEqual(r.counts, TRUE_MS.map(() => 5 * PLAN.runsPerRound), 'topped up to its rounds with its quietest rejected visits');
});

test('normalisation: a machine 12% slower later gives the same figures in the anchor\'s state', async () => {
  let slow = 1;
  const m = machine(30, 12, () => slow);
  const rng = new Rng(3);
  const sentinel = sentinelOn(m, rng);
  await sentinel.prime(100);
  const anchor = sentinel.quiet();
  const sessions = TRUE_MS.map((ms) => session(m, ms, rng));
  const first = normalized(await timeGated(sessions, sentinel, PLAN, new Rng(5)), anchor).map((r) => quantile(r, 0.25));
  slow = 1.12;
  await sentinel.prime(600); // the quiet level follows the machine within its window
  const later = await timeGated(sessions, sentinel, PLAN, new Rng(6));
  const rawLater = later.samples.map((r) => quantile(r, 0.25));
  const normLater = normalized(later, anchor).map((r) => quantile(r, 0.25));
  const diff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x / b[i]! - 1) * 100));
  assert.ok(diff(rawLater, first) > 10, `the clock moved ${diff(rawLater, first).toFixed(1)}%`);
  assert.ok(diff(normLater, first) < 2, `normalised figures moved ${diff(normLater, first).toFixed(2)}%`);
});

test('pinned map: a machine that slows light nets more is corrected by the heavy reference, not by the sentinel alone', async () => {
  // Later the machine adds 0.03 ms per run and 10%: the sentinel (0.1 ms) runs 40% slower, the
  // heaviest net (1.6 ms) 12%. Normalising by the sentinel alone over-corrects heavy nets.
  let later = false;
  const rng = new Rng(3);
  const clock = { t: 0 };
  const net = (ms: number): TimedSession => ({
    async timeOnce() {
      const t = (later ? 1.1 * ms + 0.03 : ms) * (1 + 0.005 * rng.next());
      clock.t += t;
      return t;
    },
    async output() { return new Float32Array(1); },
    async release() {},
  });
  const sentinel = new Sentinel(net(0.1), () => clock.t / 1000, 0.05);
  const heavyMs = TRUE_MS.at(-1)!;
  const sessions = TRUE_MS.map(net);
  await sentinel.prime(100);
  const anchor = sentinel.quiet();
  const before = normalized(await timeGated(sessions, sentinel, PLAN, new Rng(5)), anchor).map((r) => quantile(r, 0.25));
  later = true;
  await sentinel.prime(600);
  const now = normalized(await timeGated(sessions, sentinel, PLAN, new Rng(6)), anchor).map((r) => quantile(r, 0.25));
  const map = pinnedMap(anchor, now.at(-1)!, before.at(-1)!);
  const mapped = now.map(map);
  const worst = (a: number[]) => Math.max(...a.map((x, i) => Math.abs(x / before[i]! - 1) * 100));
  assert.ok(worst(now) > 5, `sentinel alone: off by up to ${worst(now).toFixed(1)}%`);
  assert.ok(worst(mapped) < 1, `pinned map: off by up to ${worst(mapped).toFixed(2)}%`);
  assert.ok(Math.abs(map(anchor) - anchor) < 1e-12, 'the sentinel\'s own point stays put');
  assert.equal(before.at(-1), before[TRUE_MS.indexOf(heavyMs)]);
  // Guards: references too close tell no slope; a wild slope is clamped.
  assert.equal(pinnedMap(1, 1.1, 1.1)(5), 5);
  assert.ok(Math.abs(pinnedMap(1, 2, 10)(2) - (1 + 1.5)) < 1e-12);
});

test("fit rounds: 30% of the device's rounds, its fitRounds field first", () => {
  const device = loadDevice('ort-cpu-1t');
  const plan = { rounds: 20, runsPerRound: 5, warmup: 10, gateTolerance: 0.08, maxVisitFactor: 4 };
  assert.equal(fitRoundsFor(device, plan), 6);
  assert.equal(fitRoundsFor(device, { ...plan, rounds: 3 }), 1);
  assert.equal(fitRoundsFor({ ...device, fitRounds: 3 }, plan), 3, "the device's fitRounds wins");
});
