/**
 * The report's figures: Vega-Lite specs rendered to SVG in Node (src/search/plots.ts's
 * renderSvg), then made safe to inline several times in one HTML page.
 *
 * Each data layer has a `name`, which Vega turns into the class of its mark group
 * (`<g class="mark-symbol role-mark visited_marks">`), so a test or a reader's script can count
 * the drawn points and bars of one layer.
 */
import type * as vl from 'vega-lite';
import { curvesSpec, renderSvg } from '../search/plots.js';
import type { ParetoRow, ReportModel, UnitRow, ValueRow } from './model.js';

/** One layer of a layered spec (vega-lite does not export the name). */
type LayerItem = Extract<vl.TopLevelSpec, { layer: unknown }>['layer'][number];

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** Legends below the plot, labels never cut (the default limit of 160 px cut 'expected under softmax(θ)'). */
const LEGEND = { legend: { orient: 'bottom', labelLimit: 0 } } as const;
const ROLES = ['visited', 'Pareto front', 'chosen', 'baseline'];
const ROLE_COLORS = ['#9a9a9a', '#1f77b4', '#d62728', '#2ca02c'];
const ROLE_SHAPES = ['circle', 'circle', 'circle', 'diamond'];

/**
 * Accuracy against LUT latency: one point per visited arch (coloured by role), the front as a
 * line, the baseline as a diamond, the target as a dashed rule.
 */
export function paretoReportSpec(visited: readonly ParetoRow[], baseline: { latencyMs: number; acc: number; blocks: string[] } | null, targetMs: number | null): vl.TopLevelSpec {
  const rows = visited.map((v, i) => ({ i, latencyMs: v.latencyMs, accPct: 100 * v.acc, role: v.role, source: v.source, arch: v.blocks.join(',') }));
  const front = rows.filter((r) => r.role !== 'visited').sort((a, b) => a.latencyMs - b.latencyMs);
  const x = { field: 'latencyMs', type: 'quantitative', title: 'LUT latency (ms)', scale: { zero: false } } as const;
  const y = { field: 'accPct', type: 'quantitative', title: 'val. accuracy, supernet weights (%)', scale: { zero: false } } as const;
  const color = { field: 'role', type: 'nominal', title: null, scale: { domain: ROLES, range: ROLE_COLORS } } as const;
  const shape = { field: 'role', type: 'nominal', title: null, scale: { domain: ROLES, range: ROLE_SHAPES } } as const;
  const tooltip = [
    { field: 'arch', title: 'arch' }, { field: 'source', title: 'source' },
    { field: 'latencyMs', title: 'latency (ms)', format: '.4f' }, { field: 'accPct', title: 'accuracy (%)', format: '.2f' },
  ];
  const layer: LayerItem[] = [
    {
      name: 'front',
      data: { values: front },
      mark: { type: 'line', color: '#1f77b4', strokeWidth: 1.5, interpolate: 'step-after' },
      encoding: { x, y, order: { field: 'latencyMs', type: 'quantitative' } },
    },
    {
      name: 'visited',
      data: { values: rows },
      mark: { type: 'point', filled: true, size: 60, opacity: 0.85 },
      encoding: { x, y, color, shape, tooltip },
    },
  ];
  if (baseline) {
    layer.push({
      name: 'baseline',
      data: { values: [{ latencyMs: baseline.latencyMs, accPct: 100 * baseline.acc, role: 'baseline', source: 'baseline', arch: baseline.blocks.join(',') }] },
      mark: { type: 'point', filled: true, size: 160 },
      encoding: { x, y, color, shape, tooltip },
    });
  }
  if (targetMs !== null) {
    layer.push({
      name: 'target',
      data: { values: [{ targetMs, label: `target ${targetMs.toFixed(4)} ms` }] },
      layer: [
        { mark: { type: 'rule', strokeDash: [5, 4], color: '#d62728' }, encoding: { x: { field: 'targetMs', type: 'quantitative' } } },
        {
          mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 4, color: '#d62728', fontSize: 11 },
          encoding: { x: { field: 'targetMs', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
        },
      ],
    });
  }
  return { $schema: SCHEMA, width: 560, height: 320, layer, config: LEGEND } as vl.TopLevelSpec;
}

/**
 * NetAdapt's trajectory: validation accuracy after each step's short fine-tune against LUT
 * latency, the kept proposals joined from the start (right) towards the target (the dashed rule),
 * every proposal tried as a grey point.
 */
export function adaptSpec(a: NonNullable<ReportModel['adapt']>): vl.TopLevelSpec {
  const x = { field: 'ms', type: 'quantitative', title: 'LUT latency (ms)', scale: { zero: false } } as const;
  const y = { field: 'accPct', type: 'quantitative', title: 'val. accuracy after fine-tuning (%)', scale: { zero: false } } as const;
  const tooltip = [{ field: 'label', title: 'cut' }, { field: 'step', title: 'step' }, { field: 'ms', title: 'latency (ms)', format: '.4f' }, { field: 'accPct', title: 'accuracy (%)', format: '.2f' }];
  const path = [
    ...(a.start.valAcc !== null ? [{ step: 0, label: 'start', ms: a.start.ms, accPct: 100 * a.start.valAcc }] : []),
    ...a.steps.map((s) => ({ step: s.step, label: s.label, ms: s.ms, accPct: 100 * s.valAcc })),
  ];
  const layer: LayerItem[] = [
    { name: 'tried', data: { values: a.tried.filter((t) => !t.kept).map((t) => ({ ...t, accPct: 100 * t.valAcc })) }, mark: { type: 'point', filled: true, size: 40, color: '#9a9a9a', opacity: 0.7 }, encoding: { x, y, tooltip } },
    { name: 'kept', data: { values: path }, mark: { type: 'line', point: { filled: true, size: 70 }, color: '#1f77b4' }, encoding: { x, y, order: { field: 'step', type: 'quantitative' }, tooltip } },
  ];
  if (a.targetMs !== null) {
    layer.push({
      name: 'target',
      data: { values: [{ ms: a.targetMs, label: `target ${a.targetMs.toFixed(4)} ms` }] },
      layer: [
        { mark: { type: 'rule', strokeDash: [5, 4], color: '#d62728' }, encoding: { x: { field: 'ms', type: 'quantitative' } } },
        { mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 4, color: '#d62728', fontSize: 11 }, encoding: { x: { field: 'ms', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } } },
      ],
    });
  }
  return { $schema: SCHEMA, width: 560, height: 280, layer } as vl.TopLevelSpec;
}

/** Weight loss, θ loss and temperature (dnas) or loss and train accuracy (evolution) per epoch. */
export function searchCurvesSpec(strategy: string, epochs: readonly Record<string, number | null>[]): vl.TopLevelSpec {
  const has = (f: string) => epochs.some((e) => typeof e[f] === 'number');
  const series = strategy === 'dnas'
    ? [{ field: 'loss', title: 'weight loss (CE)' }, { field: 'thetaLoss', title: 'θ loss' }, { field: 'temperature', title: 'temperature τ' }]
    : [{ field: 'loss', title: 'supernet loss (CE)' }, { field: 'trainAcc', title: 'train accuracy' }];
  return curvesSpec(epochs, series.filter((s) => has(s.field)), '');
}

/** dnas: the latency expected under softmax(θ) and the argmax arch's, per epoch, against the target. */
export function latencyCurvesSpec(epochs: readonly Record<string, number | null>[], targetMs: number | null): vl.TopLevelSpec {
  const rows = epochs.flatMap((e) => [
    { epoch: e['epoch'], series: 'expected under softmax(θ)', ms: e['expectedMs'] },
    { epoch: e['epoch'], series: 'argmax arch', ms: e['argmaxMs'] },
  ]).filter((r) => typeof r.ms === 'number');
  const layer: LayerItem[] = [{
    name: 'latency',
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'ms', type: 'quantitative', title: 'LUT latency (ms)', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null, scale: { range: ['#1f77b4', '#ff7f0e'] } },
    },
  }];
  if (targetMs !== null) {
    layer.push({ name: 'target', data: { values: [{ targetMs }] }, mark: { type: 'rule', strokeDash: [5, 4], color: '#d62728' }, encoding: { y: { field: 'targetMs', type: 'quantitative' } } });
  }
  return { $schema: SCHEMA, width: 520, height: 160, layer, config: LEGEND } as vl.TopLevelSpec;
}

/**
 * Evolution: each child's accuracy by the cycle that produced it (0 = initial population), with
 * the best feasible accuracy so far as a step line.
 */
export function evolutionSpec(visited: readonly ParetoRow[], targetMs: number | null): vl.TopLevelSpec | null {
  const cycleOf = (s: string): number | null => (s === 'initial population' ? 0 : /^cycle (\d+)$/.exec(s) ? Number(/^cycle (\d+)$/.exec(s)![1]) : null);
  const feasible = (v: ParetoRow) => (targetMs === null || v.latencyMs <= targetMs ? 'within target' : 'over target');
  const rows = visited.map((v) => ({ cycle: cycleOf(v.source), accPct: 100 * v.acc, feasible: feasible(v), arch: v.blocks.join(',') }))
    .filter((r): r is typeof r & { cycle: number } => r.cycle !== null)
    .sort((a, b) => a.cycle - b.cycle);
  if (rows.length === 0) return null;
  let best = -Infinity;
  const bestRows = rows.filter((r) => r.feasible === 'within target').map((r) => ({ cycle: r.cycle, best: (best = Math.max(best, r.accPct)) }));
  return {
    $schema: SCHEMA,
    width: 520,
    height: 180,
    layer: [
      {
        name: 'children',
        data: { values: rows },
        mark: { type: 'point', filled: true, opacity: 0.7 },
        encoding: {
          x: { field: 'cycle', type: 'quantitative', title: 'cycle (0 = initial population)' },
          y: { field: 'accPct', type: 'quantitative', title: 'val. accuracy (%)', scale: { zero: false } },
          color: { field: 'feasible', type: 'nominal', title: null, scale: { domain: ['within target', 'over target'], range: ['#1f77b4', '#bbbbbb'] } },
          tooltip: [{ field: 'arch' }, { field: 'accPct', format: '.2f', title: 'accuracy (%)' }],
        },
      },
      {
        name: 'best',
        data: { values: bestRows },
        mark: { type: 'line', interpolate: 'step-after', color: '#d62728' },
        encoding: { x: { field: 'cycle', type: 'quantitative' }, y: { field: 'best', type: 'quantitative' } },
      },
    ],
    config: LEGEND,
  } as vl.TopLevelSpec;
}

const UNIT_GROUPS: [string, string][] = [['stem / head', '#7f7f7f'], ['inverted residual', '#1f77b4'], ['skip (1×1 conv)', '#ff7f0e'], ['skip (identity, 0 ms)', '#cccccc']];

function unitGroup(u: UnitRow): string {
  if (u.kind !== 'block') return 'stem / head';
  if (u.identity) return 'skip (identity, 0 ms)';
  return u.op.startsWith('skip') ? 'skip (1×1 conv)' : 'inverted residual';
}

/** One horizontal bar per unit of the network (stem, each block, head), labelled with its op. */
export function unitsSpec(units: readonly UnitRow[]): vl.TopLevelSpec {
  const rows = units.map((u) => ({ ...u, group: unitGroup(u), text: `${u.latencyMs.toFixed(4)} ms` }));
  // Fixed colours per group, but only the groups this arch has in the legend.
  const groups = UNIT_GROUPS.filter(([g]) => rows.some((r) => r.group === g));
  const y = { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelLimit: 320, labelFont: 'monospace', labelFontSize: 11 } } as const;
  return {
    $schema: SCHEMA,
    width: 420,
    height: { step: 20 },
    data: { values: rows },
    layer: [
      {
        name: 'units',
        mark: { type: 'bar', height: 14 },
        encoding: {
          y,
          x: { field: 'latencyMs', type: 'quantitative', title: 'LUT latency in the network (ms)' },
          color: { field: 'group', type: 'nominal', title: null, scale: { domain: groups.map((g) => g[0]), range: groups.map((g) => g[1]) } },
          tooltip: [{ field: 'op' }, { field: 'channels', title: 'channels in→out' }, { field: 'key', title: 'LUT key' }, { field: 'latencyMs', format: '.4f', title: 'ms' }],
        },
      },
      {
        name: 'unit-labels',
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10, color: '#333' },
        encoding: { y, x: { field: 'latencyMs', type: 'quantitative' }, text: { field: 'text' } },
      },
    ],
    config: LEGEND,
  } as vl.TopLevelSpec;
}

/** Horizontal bars of labelled values (latencies in ms, accuracies in %) with an optional rule. */
export function valueBarsSpec(
  name: string, rows: readonly ValueRow[], axisTitle: string, format: (v: number) => string, rule: { value: number; label: string } | null, percent: boolean,
): vl.TopLevelSpec {
  const data = rows.map((r) => ({ label: r.label, value: percent ? 100 * r.value : r.value, note: r.note, text: format(r.value) }));
  const y = { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelLimit: 0 } } as const;
  const x = { field: 'value', type: 'quantitative', title: axisTitle, ...(percent ? { scale: { domain: [0, 100] } } : {}) } as const;
  const layer: LayerItem[] = [
    { name, data: { values: data }, mark: { type: 'bar', height: 16, color: '#4c78a8' }, encoding: { y, x, tooltip: [{ field: 'label' }, { field: 'text', title: 'value' }, { field: 'note' }] } },
    { data: { values: data }, mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { y, x: { field: 'value', type: 'quantitative' }, text: { field: 'text' } } },
  ];
  if (rule) {
    layer.push({
      data: { values: [{ value: rule.value, label: rule.label }] },
      layer: [
        { mark: { type: 'rule', strokeDash: [5, 4], color: '#d62728' }, encoding: { x: { field: 'value', type: 'quantitative' } } },
        {
          mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 3, dy: -2, color: '#d62728', fontSize: 11 },
          encoding: { x: { field: 'value', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
        },
      ],
    });
  }
  return { $schema: SCHEMA, width: 380, height: { step: 24 }, layer } as vl.TopLevelSpec;
}

/** Loss and accuracy of the final training, per epoch. */
export function trainCurvesSpec(history: readonly Record<string, unknown>[]): vl.TopLevelSpec {
  const rows = history.map((h) => ({ epoch: h['epoch'] as number, loss: num(h['loss']), trainAcc: num(h['trainAcc']), valAcc: num(h['valAcc']) }));
  const series = [{ field: 'loss', title: 'loss' }, { field: 'trainAcc', title: 'train accuracy' }, { field: 'valAcc', title: 'val. accuracy' }]
    .filter((s) => rows.some((r) => r[s.field as 'loss'] !== null));
  return curvesSpec(rows, series, '');
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

let figureCount = 0;

/**
 * Renders a spec and prepares the SVG for inlining: ids get a per-figure prefix (inline SVGs
 * share the page's id space, and Vega numbers its clip paths from 1 in every SVG), and each
 * point or bar's aria-label (Vega writes the tooltip fields there) becomes a <title>, which the
 * browser shows on hover without any script.
 */
export async function figureSvg(spec: vl.TopLevelSpec): Promise<string> {
  const prefix = `f${++figureCount}-`;
  const svg = await renderSvg(spec);
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`)
    .replace(/<path aria-label="([^"]*)" role="graphics-symbol"([^>]*?)\/>/g, '<path aria-label="$1" role="graphics-symbol"$2><title>$1</title></path>')
    .replace(/^<svg /, '<svg role="img" ');
}
