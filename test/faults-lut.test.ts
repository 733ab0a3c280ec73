/**
 * Latency tables with values that cannot mean what their fields say: each is refused with one
 * line naming the file and the field and the command that re-creates it, and every shipped
 * table still loads (its provenance keeping fields this latnas does not know).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LatnasError } from '../src/errors.js';
import { loadLut, LUT_SCHEMA_VERSION, predict, type Lut } from '../src/lut/lut.js';
import { resolveArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { ROOT, tempDir } from './helpers.js';

const dir = tempDir();
const SHIPPED = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');
const space = loadSpace('fbnet-mini');
const text = readFileSync(SHIPPED, 'utf8');
type Raw = Lut & Record<string, unknown>;
let n = 0;

function variant(edit: (l: Raw, keys: string[]) => void): string {
  const l = JSON.parse(text) as Raw;
  edit(l, Object.keys(l.entries));
  const path = join(dir, `lut-${n++}.json`);
  writeFileSync(path, JSON.stringify(l));
  return path;
}

function refused(edit: (l: Raw, keys: string[]) => void, pattern: RegExp): void {
  const path = variant(edit);
  assert.throws(() => loadLut(path, { device: 'ort-cpu-1t', space }), (e: unknown) => {
    assert.ok(e instanceof LatnasError, `not a LatnasError: ${(e as Error)?.stack ?? String(e)}`);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, new RegExp(`^LUT file '.*lut-\\d+\\.json' is corrupt: ${pattern.source}.*; re-create it with \`latnas profile --device ort-cpu-1t --space fbnet-mini --out .* --force\`$`));
    return true;
  });
}

test('the shipped tables of schema version 2 load for their spaces', () => {
  let loaded = 0;
  for (const device of readdirSync(join(ROOT, 'latency-tables'))) {
    for (const f of readdirSync(join(ROOT, 'latency-tables', device)).filter((x) => x.endsWith('.json'))) {
      const path = join(ROOT, 'latency-tables', device, f);
      const raw = JSON.parse(readFileSync(path, 'utf8')) as { schemaVersion: number; complete: boolean };
      if (raw.schemaVersion !== LUT_SCHEMA_VERSION) continue; // awaiting re-profiling
      loadLut(path, { device, space: loadSpace(f.slice(0, -5)), allowIncomplete: !raw.complete });
      loaded++;
    }
  }
  assert.ok(loaded >= 1);
});

test('provenance keeps fields this latnas does not know (browser tables, later provenance)', () => {
  const path = variant((l) => { Object.assign(l.provenance, { browser: { userAgent: 'x' }, host: { cpu: 'y' }, someLaterField: 3 }); });
  const lut = loadLut(path, { device: 'ort-cpu-1t', space }) as Lut & { provenance: Record<string, unknown> };
  assert.deepEqual(lut.provenance['browser'], { userAgent: 'x' });
  assert.equal(lut.provenance['someLaterField'], 3);
});

test('latencies, shapes and statistics outside their meaning are refused by field', () => {
  refused((l, k) => { l.entries[k[3]!]!.latencyMs = -1; }, /field 'entries\..*\.latencyMs': .*>=0/);
  refused((l, k) => { (l.entries[k[3]!]! as unknown as Record<string, unknown>)['latencyMs'] = null; }, /field 'entries\..*\.latencyMs'/);
  refused((l, k) => { l.entries[k[3]!]!.input[0] = 2147483648; }, /field 'entries\..*\.input\.0': .*8192/);
  refused((l, k) => { const e = l.entries[k[3]!]!; e.p10 = e.p90 + 1; }, /field 'entries\..*\.p25': quantiles out of order/);
  refused((l, k) => { l.entries[k[3]!]!.samples = 0; }, /field 'entries\..*\.samples'/);
  refused((l) => { l.calibration.scale = 0; }, /field 'calibration\.scale'/);
  refused((l) => { l.calibration.lambda = -1; }, /field 'calibration\.lambda'/);
  refused((l) => { l.provenance.threads = 0; }, /field 'provenance\.threads'/);
});

test('an entry must be what its key says: op, input, output and kind agree', () => {
  refused((l, k) => { const e = l.entries[k[3]!]!; delete l.entries[k[3]!]; l.entries['ir_k3_e6_c24_s1_re|99x1x1'] = e; },
    /field 'entries\.ir_k3_e6_c24_s1_re\|99x1x1': the key does not match the entry's op and input \(expected '.*'\)/);
  refused((l, k) => { const e = l.entries[k[5]!]!; e.output = [e.output[0] + 1, e.output[1], e.output[2]]; }, /field 'entries\..*\.output': is \d+x\d+x\d+, but block .* outputs/);
  refused((l, k) => { l.entries[k[0]!]!.kind = 'head'; }, /field 'entries\.stem_.*\.kind': is 'head' but op 'stem_.*' is not a head/);
  refused((l, k) => { l.entries[k[3]!]!.op = 'ir_k3_e6_c24_s1'; }, /field 'entries\..*\.op': not in canonical form \(ir_k3_e6_c24_s1_re\)/);
});

test('fit networks are paths of the space', () => {
  refused((l) => { l.calibration.nets[0]!.arch[0] = 99; }, /field 'calibration\.nets\.0\.arch\.0' is candidate 99, but layer 0 has 9/);
  refused((l) => { l.calibration.nets[0]!.arch.push(0); }, /field 'calibration\.nets\.0\.arch' has 13 layers, but space 'fbnet-mini' has 12/);
});

test('a negative overhead that would predict a negative latency is refused; the shipped negative intercept is fine', () => {
  const lut = loadLut(SHIPPED, { space });
  assert.ok(lut.calibration.overheadMs < 0, 'the shipped table has a negative intercept');
  refused((l) => { l.calibration.overheadMs = -5; }, /field 'calibration\.overheadMs' is -5 ms, so the fastest network of space 'fbnet-mini' would be predicted at -4\.\d+ ms/);
  // predict() itself never returns a latency <= 0, whatever the table.
  const blocks = resolveArch(space, Array(12).fill('skip'));
  const bad = { ...lut, calibration: { ...lut.calibration, overheadMs: -5 } };
  assert.throws(() => predict(bad, networkUnits(space, blocks), 'x.json'), /^LatnasError: LUT file 'x\.json' predicts -\d\.\d+ ms for this network/);
  assert.ok(existsSync(SHIPPED));
});
