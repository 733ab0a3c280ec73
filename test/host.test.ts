import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { platform } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { browserProvenance, type BrowserInfo } from '../src/device/browser-provenance.js';
import { loadDevice } from '../src/device/device.js';
import { compareWithBrowser, compareWithHost, cpuIdentity, hostProvenance, installedRuntimeVersion } from '../src/device/host.js';
import { loadLut } from '../src/lut/lut.js';
import { lutDecision } from '../src/pipeline/run.js';
import { loadSpace } from '../src/space/spaces.js';
import { cli, tempDir, TINY_SPACE } from './helpers.js';

// A real table of the tiny space, made here, and copies of it that claim another machine.
const dir = tempDir();
const here = join(dir, 'here.json');
const device = loadDevice('ort-cpu-1t');
const space = loadSpace(TINY_SPACE);
const ZEN4 = 'AuthenticAMD family 25 model 17 stepping 1';

/** A copy of the table at `here` with its provenance changed (a field set to undefined is removed). */
function variant(name: string, change: Record<string, unknown>): string {
  const raw = JSON.parse(readFileSync(here, 'utf8')) as { provenance: Record<string, unknown> };
  raw.provenance = { ...raw.provenance, ...change };
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(raw));
  return path;
}

before(() => {
  const r = cli(['profile', '--device', 'ort-cpu-1t', '--space', TINY_SPACE, '--out', here, '--rounds', '2', '--runs', '2', '--fit-nets', '12', '--chunk', '4', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

test('cpuId reads vendor, family, model and stepping of the first processor; ARM and other systems have their own form', () => {
  const x86 = 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\nstepping\t: 1\n\n' +
    'processor\t: 1\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n';
  assert.equal(cpuIdentity(x86), 'AuthenticAMD family 26 model 2 stepping 1');
  const arm = 'processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n';
  assert.equal(cpuIdentity(arm), 'ARM implementer 0x41 part 0xd0c variant 0x3 revision 1');
  assert.equal(cpuIdentity('processor : 0\n', 'Apple M2'), 'Apple M2');
  const host = hostProvenance();
  assert.equal(host.arch, process.arch);
  if (platform() === 'linux' && /^vendor_id/m.test(readFileSync('/proc/cpuinfo', 'utf8'))) assert.match(host.cpuId, /^\S+ family \d+ model \d+ stepping \S+$/);
});

test('profile records cpuId and arch; a table made here matches this machine', () => {
  const lut = loadLut(here, { device: device.name, space });
  assert.equal(lut.provenance.cpuId, hostProvenance().cpuId);
  assert.equal(lut.provenance.arch, process.arch);
  assert.equal(lut.provenance.runtimeVersion, installedRuntimeVersion('onnxruntime-node'));
  assert.deepEqual(compareWithHost(lut.provenance, 'onnxruntime-node'), []);
  // Only the platform of os counts: a kernel update is not another machine.
  assert.deepEqual(compareWithHost({ ...lut.provenance, os: `${platform()} 0.0.1-other` }, 'onnxruntime-node'), []);
});

test('another cpuId, a table without cpuId, another runtime version, OS or core count: each is one readable difference', () => {
  const p = loadLut(here, { device: device.name, space }).provenance;
  const id = hostProvenance().cpuId;
  assert.deepEqual(compareWithHost({ ...p, cpuId: ZEN4 }, 'onnxruntime-node'), [`cpuId '${ZEN4}' vs this machine's '${id}'`]);
  assert.deepEqual(compareWithHost({ ...p, cpuId: undefined }, 'onnxruntime-node'), [`the table does not record cpuId, this machine's is '${id}'`]);
  assert.deepEqual(compareWithHost({ ...p, runtimeVersion: '1.17.0' }, 'onnxruntime-node', '1.30.0'), ["runtimeVersion '1.17.0' vs this machine's '1.30.0'"]);
  const other = compareWithHost({ ...p, os: 'darwin 23.1.0', cpuCount: p.cpuCount + 6, cpu: 'Apple M2' }, 'onnxruntime-node');
  assert.equal(other.length, 3, other.join('; '));
  assert.match(other.join('; '), new RegExp(`os 'darwin' vs this machine's '${platform()}'.*cpuCount '${p.cpuCount + 6}'.*cpu 'Apple M2'`));
  // A browser table describes the browser, so the host it was served from is never compared.
  assert.deepEqual(compareWithHost({ ...p, runtime: 'onnxruntime-web (browser)', cpuId: ZEN4 }, 'browser'), []);
});

test('predict on a table from another CPU prints one warning line and still predicts; a table made here prints none', () => {
  const foreign = variant('zen4.json', { cpuId: ZEN4 });
  const args = ['--space', TINY_SPACE, '--arch', 'k3_e1,skip,k3_e3'];
  const r = cli(['predict', '--table', foreign, ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ms predicted on ort-cpu-1t/);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^latnas: warning: the table '${foreign}' was made on another machine \\(cpuId '${ZEN4}' vs this machine's '.+'\\); ` +
    'its latencies may not hold here: profile this machine with `latnas profile --device ort-cpu-1t --space tiny`$'));
  const ok = cli(['predict', '--table', here, ...args]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '');
});

test('lut-check on a table from another machine says so and still checks', () => {
  const old = variant('old.json', { cpuId: undefined, arch: undefined });
  const r = cli(['lut-check', '--device', 'ort-cpu-1t', '--space', TINY_SPACE, '--table', old, '--samples', '3', '--rounds', '2', '--runs', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { samples: number }).samples, 3);
  assert.match(r.stderr, /^latnas: warning: the table '.*old\.json' was made on another machine \(the table does not record cpuId, this machine's is '.+'\); checking it anyway/);
});

test("latnas run's lut stage reuses a table made here and profiles this machine when the table is another machine's, saying why", () => {
  assert.deepEqual(lutDecision(here, device, space), { reuse: true });
  const foreign = variant('zen4-run.json', { cpuId: ZEN4, profileSeconds: 12.4 });
  const d = lutDecision(foreign, device, space);
  assert.equal(d.reuse, false);
  assert.ok(!d.reuse && d.otherMachine && d.tableSeconds === 12.4);
  assert.match(d.reason, new RegExp(`^the table '${foreign}' was made on another machine \\(cpuId '${ZEN4}' vs this machine's '.+'\\)$`));
  // Missing or unusable tables are profiled too, for their own reason.
  const missing = lutDecision(join(dir, 'none.json'), device, space);
  assert.deepEqual(missing, { reuse: false, reason: `no table at '${join(dir, 'none.json')}'`, otherMachine: false });
  writeFileSync(join(dir, 'bad.json'), '{');
  const bad = lutDecision(join(dir, 'bad.json'), device, space);
  assert.ok(!bad.reuse && !bad.otherMachine && bad.reason.includes('bad.json'));
});

test('a browser stamp moves the serving machine\'s cpuId and arch under host; the browser is compared with the page attached', () => {
  const prior = { runtime: 'onnxruntime-web (browser)', cpu: 'AMD EPYC', cpuId: ZEN4, arch: 'x64', cpuCount: 2, os: 'linux 6.1', node: 'v20' };
  const page = { userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 7) Chrome/131', hardwareConcurrency: 8, platform: 'Linux armv8l', ortVersion: '1.30.0', executionProvider: 'wasm', wasmThreads: 1 };
  const stamped = browserProvenance({ launch: 'none', page } as unknown as BrowserInfo, prior);
  const json = JSON.parse(JSON.stringify(stamped)) as Record<string, unknown> & { host: Record<string, unknown>; browser: Record<string, unknown> };
  assert.equal(json['cpuId'], undefined);
  assert.equal(json['arch'], undefined);
  assert.equal(json.host['cpuId'], ZEN4);
  assert.equal(json.host['arch'], 'x64');
  assert.deepEqual(compareWithBrowser(json.browser, page), []);
  assert.deepEqual(compareWithBrowser(json.browser, { ...page, hardwareConcurrency: 4 }), ["hardwareConcurrency '8' vs the attached page's '4'"]);
});
