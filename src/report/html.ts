/**
 * The report page: plain HTML and a little CSS around the inlined SVG figures. No scripts run
 * and nothing is fetched, so the file can be mailed, archived or opened offline; the data behind
 * it is embedded as JSON (`<script type="application/json" id="latnas-data">`).
 */
import type { ReportModel, StageStatus } from './model.js';

export type FigureName = 'pareto' | 'curves' | 'latencyCurves' | 'evolution' | 'units' | 'latency' | 'accuracy' | 'train' | 'adapt';
export type Figures = Partial<Record<FigureName, string>>;

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that cannot end its <script> element early or open an HTML comment. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const DASH = '–';
const ok = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** Latencies here are 0.02–50 ms: four significant digits keep 0.1175 and 12.34 both readable. */
export function fmtMs(x: number | null | undefined): string {
  if (!ok(x)) return DASH;
  return `${x < 10 ? x.toFixed(4 - Math.max(0, Math.floor(Math.log10(Math.max(x, 1))))) : x.toFixed(1)} ms`;
}
export function fmtPct(x: number | null | undefined, digits = 2): string {
  return ok(x) ? `${(100 * x).toFixed(digits)}%` : DASH;
}
export function fmtSigned(x: number | null | undefined, unit: string, digits = 1): string {
  return ok(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}${unit}` : DASH;
}
export function fmtSeconds(x: number | null | undefined): string {
  if (!ok(x)) return DASH;
  if (x < 60) return `${x.toFixed(1)} s`;
  const m = Math.floor(x / 60);
  return m < 60 ? `${m} min ${Math.round(x - 60 * m)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
export function fmtBytes(x: number | null | undefined): string {
  if (!ok(x)) return DASH;
  return x < 1024 ? `${x} B` : x < 1024 * 1024 ? `${(x / 1024).toFixed(1)} KiB` : `${(x / 1024 / 1024).toFixed(2)} MiB`;
}
export function fmtDate(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return DASH;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(5)));
  if (typeof v === 'string' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** A two-column table; rows whose value is undefined are left out. */
function kv(rows: [string, string | undefined][], cls = 'kv'): string {
  const body = rows.filter(([, v]) => v !== undefined).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('');
  return `<table class="${cls}">${body}</table>`;
}

function figure(id: string, svg: string | undefined, caption: string): string {
  if (!svg) return '';
  return `<figure id="fig-${id}">${svg}<figcaption>${caption}</figcaption></figure>`;
}

function pending(what: string, stage: string): string {
  return `<p class="pending">${esc(what)}: pending (stage <b>${esc(stage)}</b> has not finished).</p>`;
}

const STATE_LABEL: Record<StageStatus['state'], string> = { done: 'done', reused: 'reused', started: 'started, not finished', pending: 'pending' };

function stagesSection(m: ReportModel): string {
  const rows = m.stages.map((s) => `<tr><td>${esc(s.name)}</td><td><span class="state ${s.state}">${STATE_LABEL[s.state]}</span></td>` +
    `<td>${esc(s.detail)}</td><td class="num">${fmtSeconds(s.seconds)}</td></tr>`).join('');
  const notice = m.pending.length > 0
    ? `<p class="notice" id="pending-stages">Pending stages: ${m.pending.map((p) => `<b>${esc(p)}</b>`).join(', ')}. ` +
      'Sections that need them are marked below; run the pipeline again to fill them in.</p>'
    : '';
  const problems = m.problems.length > 0 ? `<div class="problems"><p>Some files could not be used:</p><ul>${m.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></div>` : '';
  return `<section id="stages"><h2>Pipeline</h2>${notice}${problems}
<table class="grid"><thead><tr><th>stage</th><th>status</th><th>detail</th><th>time</th></tr></thead><tbody>${rows}</tbody></table>
${m.options ? `<details><summary>options</summary>${kv(Object.entries(m.options).map(([k, v]) => [k, esc(fmtValue(v))]))}</details>` : ''}</section>`;
}

function summaryCards(m: ReportModel): string {
  const measured = m.latency?.rows.find((r) => r.label === 'measured: exported fp32');
  const predicted = m.latency?.rows.find((r) => r.label === 'predicted (LUT)');
  const testAcc = m.train?.metrics.testAcc;
  const onnx = m.accuracy.find((r) => r.label === 'exported ONNX fp32');
  const cards: [string, string, string][] = [
    ['target', fmtMs(m.search?.targetMs), m.search ? `${m.search.strategy} search` : 'no search yet'],
    ['predicted', fmtMs(predicted?.value), 'LUT'],
    ['measured', fmtMs(measured?.value), measured ? `prediction error ${fmtSigned(m.latency?.errPct, '%')}` : 'pending export'],
    ['test accuracy', fmtPct(testAcc), testAcc !== undefined ? 'trained, TF.js' : 'pending training'],
    ['ONNX accuracy', fmtPct(onnx?.value), onnx ? onnx.note : 'pending export'],
  ];
  return `<div class="cards">${cards.map(([k, v, n]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="n">${esc(n)}</div></div>`).join('')}</div>`;
}

/** The study's τ with its source; it ranks the study's archs, so a run of another space is told so. */
function rankingCell(r: ReportModel['ranking']): string | undefined {
  if (!r) return undefined;
  const n = (x: number | null) => (x === null ? DASH : x.toFixed(3));
  const other = r.sameSpace ? '' : ` (not this run's space)`;
  return `<span id="ranking">${n(r.kendallTau)} (Spearman ${n(r.spearman)}) <span class="muted">between inherited-weight validation accuracy and retrained test accuracy `
    + `over ${r.archs} archs of ${esc(r.space)}${other} on ${esc(r.dataset)}, measured by bench:search-quality, not by this run: <code>${esc(r.source)}</code></span></span>`;
}

function searchSection(m: ReportModel, f: Figures): string {
  const s = m.search;
  if (!s) return `<section id="search"><h2>Search</h2>${pending('Pareto front and search curves', 'search')}</section>`;
  const table = kv([
    ['strategy', esc(s.strategy)],
    ['latency target', fmtMs(s.targetMs)],
    ['chosen arch', `<code>${esc(s.chosen.blocks.join(' '))}</code>`],
    ['chosen: LUT latency', fmtMs(s.chosen.predictedMs)],
    ['chosen: val. accuracy (supernet weights)', fmtPct(s.chosen.supernetValAcc)],
    ['baseline (MobileNetV2-style)', s.baseline ? `${fmtMs(s.baseline.latencyMs)}, ${fmtPct(s.baseline.acc)}` : undefined],
    ['fastest arch of the space', fmtMs(s.fastestMs)],
    ['archs scored / on the front', `${s.visited.length} / ${s.frontSize}`],
    ['search time', fmtSeconds(s.searchSeconds)],
    ['supernet ranking (Kendall τ)', rankingCell(m.ranking)],
  ]);
  const curves = s.strategy === 'dnas' ? 'Weight loss, θ loss and Gumbel temperature per epoch.' : 'Supernet loss and training accuracy per epoch.';
  return `<section id="search"><h2>Search</h2>${table}
${s.visited.length > 0
    ? figure('pareto', f.pareto, `Accuracy (supernet weights, validation split) against LUT latency of the ${s.visited.length} archs the search scored; ` +
      'the blue line is the Pareto front, red the chosen arch, the green diamond the baseline, the dashed line the target.')
    : '<p class="pending">No visited archs recorded (search/visited.json missing).</p>'}
${s.epochs.length > 0 ? figure('curves', f.curves, curves) : '<p class="pending">No search log (search/search-log.json missing).</p>'}
${figure('latency-curves', f.latencyCurves, 'Latency expected under softmax(θ) and of the argmax arch per epoch; dashed: the target.')}
${figure('evolution', f.evolution, 'Each child\'s accuracy by the cycle that made it; red: the best accuracy within the target so far.')}</section>`;
}

function archSection(m: ReportModel, f: Figures): string {
  const a = m.arch;
  if (!a) return `<section id="arch"><h2>Architecture</h2>${pending('The chosen architecture', 'search')}</section>`;
  const from = { export: 'the exported model', train: 'the trained run', search: 'the search result' }[a.source];
  const overhead = `${(a.overheadMs ?? 0) < 0 ? '−' : '+'} per-network overhead ${fmtMs(a.overheadMs === null ? null : Math.abs(a.overheadMs))}`;
  const sum = a.units
    ? `<p>Σ units ${fmtMs(a.units.reduce((s, u) => s + u.latencyMs, 0))} ${overhead} = <b>${fmtMs(a.totalMs)}</b> predicted on ${esc(m.lut?.device ?? '?')}.</p>`
    : '';
  const note = a.note ? `<p class="${a.units ? 'note' : 'pending'}">${a.units ? '' : 'Per-layer latency not shown: '}${esc(a.note)}</p>` : '';
  const list = a.units ? '' : `<ol class="blocks">${a.blocks.map((b) => `<li><code>${esc(b)}</code></li>`).join('')}</ol>`;
  return `<section id="arch"><h2>Architecture</h2><p>The arch of ${from}, space <code>${esc(a.space)}</code>, ${a.blocks.length} searchable layers.</p>${note}
${figure('units', f.units, 'One bar per unit of the network: its latency inside a whole network, from the LUT.')}${sum}${list}</section>`;
}

function latencySection(m: ReportModel, f: Figures): string {
  const l = m.latency;
  const measured = l?.rows.some((r) => r.label.startsWith('measured'));
  const on = `${l?.device ? ` on ${esc(l.device)}` : ''}${l?.estimator ? `, ${esc(l.estimator)} of the timed runs` : ''}`;
  const body = l ? figure('latency', f.latency, `Predicted (LUT) and measured latency${on}; dashed: the target.`) +
    kv(l.rows.map((r) => [r.label, `${fmtMs(r.value)} <span class="muted">${esc(r.note)}</span>`] as [string, string]).concat(
      l.errPct !== null ? [['prediction error', `${fmtSigned(l.errPct, '%', 2)} <span class="muted">(predicted − measured) / measured</span>`]] : [])) : '';
  return `<section id="latency"><h2>Latency: predicted vs measured</h2>${body}${measured ? '' : pending('Measured latency of the exported net', 'export')}</section>`;
}

function accuracySection(m: ReportModel, f: Figures): string {
  if (m.accuracy.length === 0) return `<section id="accuracy"><h2>Accuracy</h2>${pending('Accuracy', 'search')}</section>`;
  const missing = [!m.train ? pending('Test accuracy of the trained net', 'train') : '', !m.export ? pending('Accuracy of the exported ONNX model', 'export') : ''].join('');
  return `<section id="accuracy"><h2>Accuracy</h2>${figure('accuracy', f.accuracy, 'Top-1 accuracy at each stage.')}
${kv(m.accuracy.map((r) => [r.label, `${fmtPct(r.value)} <span class="muted">${esc(r.note)}</span>`] as [string, string]))}${missing}</section>`;
}

function trainSection(m: ReportModel, f: Figures): string {
  const t = m.train?.metrics;
  if (!t) return `<section id="train"><h2>Training</h2>${pending('Training', 'train')}</section>`;
  const h = t.history ?? [];
  const cells = (e: (typeof h)[number]) => [
    String(e.epoch), ok(e.loss) ? e.loss.toFixed(4) : DASH, fmtPct(e.trainAcc), fmtPct(e.valAcc), ok(e.lr) ? e.lr.toPrecision(3) : DASH, fmtSeconds(e.seconds),
    ok(e.imagesPerSecond) ? e.imagesPerSecond.toFixed(0) : DASH,
  ];
  const rows = h.map((e) => `<tr>${cells(e).map((c) => `<td class="num">${c}</td>`).join('')}</tr>`).join('');
  return `<section id="train"><h2>Training</h2>${kv([
    ['dataset', esc(t.datasetSpec ?? t.dataset ?? DASH)],
    // The logit order the exported model's users need (folder names for a folder of images).
    ['classes', t.classes ? `${t.classes.length}: ${t.classes.map((c, i) => `${i} ${esc(c)}`).join(', ')}` : DASH],
    ['backend', esc(t.backend ?? DASH)],
    ['optimizer', `${esc(t.optimizer ?? DASH)}, lr ${fmtValue(t.lr)}, batch ${fmtValue(t.batch)}`],
    ['test accuracy', `<b>${fmtPct(t.testAcc)}</b>`],
  ])}
${h.length > 1 ? figure('train', f.train, 'Training loss and accuracy per epoch.') : ''}
${h.length > 0
    ? '<table class="grid"><thead><tr><th>epoch</th><th>loss</th><th>train acc.</th><th>val. acc.</th><th>lr</th><th>time</th><th>img/s</th></tr></thead>' +
      `<tbody>${rows}</tbody></table>`
    : ''}</section>`;
}

/** Only when the run adapted (`--adapt-ms`): a run without it has no section to wait for. */
function adaptSection(m: ReportModel, f: Figures): string {
  const a = m.adapt;
  if (!a) return '';
  const rows = a.steps.map((s) => `<tr><td class="num">${s.step}</td><td>${esc(s.label)}</td><td class="num">${fmtMs(s.ms)}</td><td class="num">${fmtPct(s.valAcc)}</td><td class="num">${s.proposals}</td></tr>`).join('');
  return `<section id="adapt"><h2>NetAdapt</h2>${kv([
    ['start', `${fmtMs(a.start.ms)}, validation ${fmtPct(a.start.valAcc)}`],
    ['target', fmtMs(a.targetMs)],
    ['result', a.final ? `<b>${fmtMs(a.final.ms)}</b>, test accuracy <b>${fmtPct(a.final.testAcc)}</b> after ${a.final.epochs} epoch(s) of fine-tuning` : pending('The final fine-tune', 'adapt')],
  ])}
${f.adapt ? figure('adapt', f.adapt, 'Each step keeps the proposal (a width or expansion cut) with the best validation accuracy after a short fine-tune; grey: the proposals it did not keep.') : ''}
${rows ? `<table class="grid"><thead><tr><th>step</th><th>kept cut</th><th>latency</th><th>val. acc.</th><th>proposals</th></tr></thead><tbody>${rows}</tbody></table>` : ''}
${a.pendingStep !== null ? `<p class="pending">step ${a.pendingStep} under way</p>` : ''}</section>`;
}

function exportSection(m: ReportModel): string {
  const x = m.export;
  if (!x) return `<section id="export"><h2>Export</h2>${pending('The ONNX model', 'export')}</section>`;
  const p = x.parity ?? {};
  const q = x.int8;
  const n = (v: unknown) => (typeof v === 'number' ? v : null);
  return `<section id="export"><h2>Export</h2>${kv([
    ['model', x.modelPath ? `<code>${esc(x.modelPath)}</code>` : 'not beside its report'],
    ['size', fmtBytes(x.modelBytes)],
    ['opset', fmtValue(x.opset)],
    ['TF.js vs ONNX: max |Δ logit|', n(p['maxAbsDiff']) !== null ? n(p['maxAbsDiff'])!.toExponential(2) : DASH],
    ['TF.js vs ONNX: top-1 agreement', `${fmtPct(n(p['top1Agreement']))} of ${fmtValue(p['images'])} images`],
    ['int8: accuracy change', q ? fmtSigned(n(q['accuracyDropPct']) === null ? null : -n(q['accuracyDropPct'])!, ' points', 2) : undefined],
    ['int8: top-1 agreement with fp32', q ? fmtPct(n(q['top1AgreementWithFp32'])) : undefined],
  ])}</section>`;
}

function lutSection(m: ReportModel): string {
  const l = m.lut;
  if (!l) return `<section id="device"><h2>Device and latency table</h2>${pending('The latency table', 'lut')}</section>`;
  const p = l.provenance;
  return `<section id="device"><h2>Device and latency table</h2>${l.found ? '' : '<p class="note">The table itself is not on this machine; provenance as the search recorded it.</p>'}${kv([
    ['device', esc(l.device ?? DASH)],
    ['table', l.path ? `<code>${esc(l.path)}</code>` : DASH],
    ['space', esc(l.space ?? DASH)],
    ['runtime', p ? `${esc(p.runtime ?? DASH)} ${esc(p.runtimeVersion ?? '')}, ${esc(p.executionProvider ?? '?')} EP, graph optimisation ${esc(p.graphOptimizationLevel ?? '?')}` : DASH],
    ['threads', fmtValue(p?.threads)],
    ['CPU', p ? `${esc(p.cpu ?? DASH)}${ok(p.cpuCount) ? ` (${p.cpuCount} logical cores)` : ''}` : DASH],
    ['OS, Node', p ? `${esc(p.os ?? DASH)}, Node ${esc(p.node ?? DASH)}` : DASH],
    ['created', fmtDate(p?.created)],
    ['updated', fmtDate(p?.updated)],
    ['profiling time', fmtSeconds(p?.profileSeconds)],
    ['estimator', esc(l.estimator ?? DASH)],
    ['calibration: cross-validated MAPE', ok(l.cvMapePct) ? `${l.cvMapePct.toFixed(2)}% <span class="muted">per-block fit on ${l.fitNets ?? '?'} whole networks</span>` : DASH],
    ['per-network overhead', fmtMs(l.overheadMs)],
    ['entries', l.entries !== null ? `${l.entries}${l.complete === false ? ' (incomplete)' : ''}` : DASH],
    ['latnas version', esc(p?.latnasVersion ?? DASH)],
  ])}</section>`;
}

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0; background: #f6f7f9; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e3e3e3; }
.meta, .muted, figcaption { color: #666; font-size: 13px; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
table { border-collapse: collapse; margin: 8px 0; }
table.kv th { text-align: left; font-weight: 500; color: #555; padding: 3px 18px 3px 0; vertical-align: top; white-space: nowrap; }
table.kv td { padding: 3px 0; }
table.grid th, table.grid td { border-bottom: 1px solid #eee; padding: 4px 12px 4px 0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 16px 0; }
figure svg { max-width: 100%; height: auto; display: block; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 18px 0 6px; }
.card { flex: 1 1 150px; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 12px; }
.card .k { color: #666; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 21px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .n { color: #777; font-size: 12px; }
.state { padding: 1px 8px; border-radius: 10px; font-size: 12.5px; background: #eee; }
.state.done, .state.reused { background: #e3f4e3; color: #1b5e20; }
.state.started { background: #fff3d6; color: #8a5a00; }
.state.pending { background: #f1f1f1; color: #777; }
.notice { background: #fff8e1; border-left: 4px solid #f0b400; padding: 8px 12px; }
.pending { color: #777; font-style: italic; }
.note { color: #555; }
.problems { background: #fdecea; border-left: 4px solid #d62728; padding: 4px 12px; }
ol.blocks { columns: 2; font-size: 13px; }
details { margin: 8px 0; }
`;

export function renderPage(m: ReportModel, f: Figures): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(m.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${esc(m.title)}</h1>
<div class="meta">run folder <code>${esc(m.runDir)}</code> · report written ${esc(fmtDate(m.generated))}</div>
${summaryCards(m)}
${stagesSection(m)}
${searchSection(m, f)}
${archSection(m, f)}
${latencySection(m, f)}
${accuracySection(m, f)}
${trainSection(m, f)}
${adaptSection(m, f)}
${exportSection(m)}
${lutSection(m)}
</main>
<script type="application/json" id="latnas-data">${scriptJson(m)}</script>
</body>
</html>
`;
}
