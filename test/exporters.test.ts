import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { reportPathFor } from '../exporters/exporter.js';
import { EXPORTERS } from '../exporters/registry.js';
import { ROOT } from './helpers.js';

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? tsFiles(path) : e.name.endsWith('.ts') ? [path] : [];
  });
}

test('src/ reaches exporters/ only through exporters/registry.ts (static, type-only and dynamic imports alike)', () => {
  const exporters = join(ROOT, 'exporters');
  const entry = join(exporters, 'registry.ts');
  const seen: string[] = [];
  const wrong: string[] = [];
  for (const file of tsFiles(join(ROOT, 'src'))) {
    for (const f of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!f.fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), f.fileName).replace(/\.js$/, '.ts');
      if (!target.startsWith(`${exporters}/`)) continue;
      (target === entry ? seen : wrong).push(`${relative(ROOT, file)} -> ${relative(ROOT, target)}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(seen.length > 0, 'the CLI and the pipeline export through the registry');
});

test('every registered exporter is named by its format, and its report goes beside the model', () => {
  for (const [name, exporter] of Object.entries(EXPORTERS)) {
    assert.equal(exporter.format, name);
    assert.match(exporter.extension, /^\.[a-z0-9]+$/);
    assert.equal(exporter.reportPath(`runs/a/model${exporter.extension}`), 'runs/a/model.export.json');
  }
  assert.equal(EXPORTERS.onnx.reportPath('runs/a/model.ONNX'), 'runs/a/model.export.json');
  assert.equal(EXPORTERS.onnx.reportPath('runs/a/model'), 'runs/a/model.export.json');
  assert.equal(reportPathFor('x.tflite.onnx', '.tflite'), 'x.tflite.onnx.export.json');
});
