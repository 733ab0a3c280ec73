/**
 * The library API (src/index.ts): imported by the package's own name, as a user's script does
 * (a package with `exports` can import itself by name), and the README's example run as written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as latnas from 'latnas';
import { ROOT, tempDir } from './helpers.js';

test("'latnas' resolves to the typed entry point with every stage", () => {
  const stages = [
    latnas.loadSpace, latnas.loadDevice, latnas.profile, latnas.loadLut, latnas.predict, latnas.lutCheck, latnas.loadDataset,
    latnas.search, latnas.train, latnas.EXPORTERS.onnx.export, latnas.runPipeline, latnas.writeReport,
  ];
  for (const f of stages) assert.equal(typeof f, 'function');
  assert.ok(latnas.STRATEGIES.includes('dnas'));
  const space = latnas.loadSpace('fbnet-mini');
  const path = latnas.defaultLutPath('ort-cpu-1t', space.name);
  const lut = latnas.loadLut(path, { device: 'ort-cpu-1t', space });
  const ms = latnas.predict(lut, latnas.networkUnits(space, latnas.resolveArch(space, Array(12).fill('k3_e6'))), path).totalMs;
  assert.ok(ms > 0);
  assert.throws(() => latnas.loadSpace('resnet'), latnas.LatnasError);
});

/** The first ```js block of the README's "Library API" section. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library API'));
  const block = /```js\n([\s\S]*?)```/.exec(section.slice(0, section.indexOf('\n## ', 1)));
  assert.ok(block, "README.md has no ```js block in its 'Library API' section");
  return block[1]!;
}

test('the README example of the library API runs as written', () => {
  const dir = tempDir();
  // A project that installed latnas: node_modules/latnas is this package.
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'latnas'), 'dir');
  writeFileSync(join(dir, 'example.mjs'), readmeExample());
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^MobileNetV2-style: \d+\.\d{3} ms predicted$/m);
  assert.match(r.stdout, /^searched: (\w+,){11}\w+, \d+\.\d{3} ms predicted$/m);
  assert.match(r.stdout, /^runs\/api\/model\.onnx: \d+\.\d% on 200 test images$/m);
  assert.ok(existsSync(join(dir, 'runs/api/model.onnx')));
  assert.ok(existsSync(join(dir, 'runs/api/model.export.json')));
});
