/**
 * Search plots as standalone SVG, drawn by Vega-Lite (vega renders headless in Node, no canvas
 * needed for SVG); the HTML report (src/report/charts.ts) draws its charts from the same specs.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

export interface ParetoPoint { latencyMs: number; acc: number; blocks: string[]; role: 'visited' | 'front' | 'chosen' | 'baseline' }

/** Points no other point beats in both latency (lower) and accuracy (higher), fastest first. */
export function paretoFront<T extends { latencyMs: number; acc: number }>(points: readonly T[]): T[] {
  const sorted = [...points].sort((a, b) => a.latencyMs - b.latencyMs || b.acc - a.acc);
  const front: T[] = [];
  for (const p of sorted) if (front.length === 0 || p.acc > front[front.length - 1]!.acc) front.push(p);
  return front;
}

/** A Vega-Lite spec as an SVG string (the report inlines these). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function paretoSpec(points: readonly ParetoPoint[], targetMs: number, title: string): vl.TopLevelSpec {
  const rows = points.map((p) => ({ ...p, accPct: 100 * p.acc, arch: p.blocks.join(' ') }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 320,
    layer: [
      {
        data: { values: rows.filter((r) => r.role === 'visited') },
        mark: { type: 'point', filled: true, opacity: 0.35, color: '#888' },
        encoding: {
          x: { field: 'latencyMs', type: 'quantitative', title: 'predicted latency (ms)', scale: { zero: false } },
          y: { field: 'accPct', type: 'quantitative', title: 'validation accuracy, supernet weights (%)', scale: { zero: false } },
          tooltip: [{ field: 'arch' }],
        },
      },
      {
        data: { values: rows.filter((r) => r.role !== 'visited').sort((a, b) => a.latencyMs - b.latencyMs) },
        mark: { type: 'line', point: true, color: '#1f77b4' },
        transform: [{ filter: "datum.role === 'front' || datum.role === 'chosen'" }],
        encoding: { x: { field: 'latencyMs', type: 'quantitative' }, y: { field: 'accPct', type: 'quantitative' } },
      },
      {
        data: { values: rows.filter((r) => r.role === 'chosen' || r.role === 'baseline') },
        mark: { type: 'point', filled: true, size: 120, shape: 'diamond' },
        encoding: {
          x: { field: 'latencyMs', type: 'quantitative' },
          y: { field: 'accPct', type: 'quantitative' },
          color: { field: 'role', type: 'nominal', scale: { domain: ['chosen', 'baseline'], range: ['#d62728', '#2ca02c'] }, title: null },
        },
      },
      {
        data: { values: [{ targetMs }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#d62728' },
        encoding: { x: { field: 'targetMs', type: 'quantitative' } },
      },
    ],
  };
}

export async function paretoSvg(points: readonly ParetoPoint[], targetMs: number, title: string): Promise<string> {
  return renderSvg(paretoSpec(points, targetMs, title));
}

/** One small panel per series (e.g. loss, expected latency, temperature) against the epoch. */
export function curvesSpec(rows: readonly Record<string, number | null>[], series: readonly { field: string; title: string }[], title: string): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: rows.map((r) => ({ ...r })) },
    vconcat: series.map((s) => ({
      width: 520,
      height: 120,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
        y: { field: s.field, type: 'quantitative', title: s.title, scale: { zero: false } },
      },
    })),
  };
}

export async function curvesSvg(rows: readonly Record<string, number | null>[], series: readonly { field: string; title: string }[], title: string): Promise<string> {
  return renderSvg(curvesSpec(rows, series, title));
}
