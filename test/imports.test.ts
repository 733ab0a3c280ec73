/**
 * No import cycle in src/ and exporters/, counting type-only and dynamic imports: a cycle means
 * two modules cannot be understood, tested or moved one without the other, and a lazy
 * `import()` only hides it from the loader, not from the reader.
 *
 * The graph comes from the TypeScript compiler's own pre-processor (`ts.preProcessFile`, already
 * the build's devDependency): it tokenises, so imports in comments and strings do not count, and
 * it reports `import`, `import type`, `export ... from` and `import('...')` (also in type
 * positions) alike. The walk is Tarjan's strongly connected components, 40 lines; a library
 * for it (madge pulls a few dozen packages) would add more than it saves.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { ROOT, tempDir } from './helpers.js';

/** Every .ts file under `dir`, recursively (no declaration files). */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(path));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The .ts file a relative specifier names (NodeNext: './x.js' is ./x.ts), or undefined for a non-TypeScript file (JSON, wasm). */
function resolveSpecifier(from: string, specifier: string): string | undefined {
  const target = resolve(dirname(from), specifier);
  const asTs = target.replace(/\.js$/, '.ts');
  if (existsSync(asTs) && asTs.endsWith('.ts')) return asTs;
  if (existsSync(target)) return undefined;
  throw new Error(`${relative(ROOT, from)}: import '${specifier}' names no file`);
}

/** file -> the files it imports, for every .ts file under `roots`; imports that leave the roots are not followed. */
function importGraph(roots: string[]): Map<string, string[]> {
  const files = roots.flatMap(tsFiles);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.'))
      .map((s) => resolveSpecifier(file, s)).filter((t): t is string => t !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Each cycle as a path a -> b -> ... -> a: one per strongly connected component of more than one file (or a file importing itself). */
function findCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return components.map((c) => cycleWithin(graph, new Set(c), c[0]!));
}

/** A shortest path from `start` back to itself inside one component (breadth first). */
function cycleWithin(graph: Map<string, string[]>, members: Set<string>, start: string): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(parent.get(path[0]!)!);
        return [...path, start];
      }
      if (!parent.has(w) && w !== start) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

const show = (cycle: string[]): string => cycle.map((f) => relative(ROOT, f)).join(' -> ');

test('src/ and exporters/ have no import cycle (type-only and dynamic imports count)', () => {
  const graph = importGraph([join(ROOT, 'src'), join(ROOT, 'exporters')]);
  assert.ok(graph.size > 50, `read only ${graph.size} files`);
  const cycles = findCycles(graph);
  assert.deepEqual(cycles.map(show), [], `import cycles:\n${cycles.map(show).join('\n')}`);
});

test('the check sees static, type-only, re-exported and dynamic imports', () => {
  const dir = tempDir();
  const write = (name: string, text: string) => {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  };
  write('a.ts', "import { b } from './b.js';\n// import { z } from './z.js' is a comment, not an edge\nexport const a = b;\n");
  write('b.ts', "import type { C } from './sub/c.js';\nexport const b: C = 1;\n");
  write('sub/c.ts', "export type C = number;\nexport async function d() { return (await import('../d.js')).d; }\n");
  write('d.ts', "export * from './e.js';\nexport const d = 1;\n");
  write('e.ts', "export type A = import('./a.js').A;\n");
  write('f.ts', "import './f.js';\n");
  write('g.ts', "import data from './g.json' with { type: 'json' };\nexport default data;\n");
  write('g.json', '{}');
  const cycles = findCycles(importGraph([dir])).map((c) => c.map((f) => relative(dir, f)));
  assert.equal(cycles.length, 2, JSON.stringify(cycles));
  const big = cycles.find((c) => c.length > 2)!;
  assert.deepEqual(new Set(big), new Set(['a.ts', 'b.ts', 'sub/c.ts', 'd.ts', 'e.ts']));
  assert.equal(big[0], big[big.length - 1]);
  assert.deepEqual(cycles.find((c) => c.length === 2), ['f.ts', 'f.ts']);
});
