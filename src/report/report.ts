/**
 * `writeReport(runDir)`: one self-contained HTML page for a pipeline run folder
 * (pipeline.json, search/, train/, model.onnx + model.export.json; any of them may be missing).
 * Figures are Vega-Lite rendered to SVG here, in Node, so the page needs no script or network.
 */
import { join } from 'node:path';
import type * as vl from 'vega-lite';
import { writeFileAtomic } from '../util/files.js';
import { adaptSpec, evolutionSpec, figureSvg, latencyCurvesSpec, paretoReportSpec, searchCurvesSpec, trainCurvesSpec, unitsSpec, valueBarsSpec } from './charts.js';
import { fmtMs, fmtPct, renderPage, type FigureName, type Figures } from './html.js';
import { readRun, type ReadRunOptions } from './load.js';
import { buildModel, type ReportModel } from './model.js';

/** The specs of the figures this run has data for. */
export function reportSpecs(m: ReportModel): Partial<Record<FigureName, vl.TopLevelSpec>> {
  const specs: Partial<Record<FigureName, vl.TopLevelSpec>> = {};
  const s = m.search;
  if (s) {
    if (s.visited.length > 0) specs.pareto = paretoReportSpec(s.visited, s.baseline, s.targetMs);
    if (s.epochs.length > 0) {
      specs.curves = searchCurvesSpec(s.strategy, s.epochs);
      if (s.epochs.some((e) => e['expectedMs'] !== null)) specs.latencyCurves = latencyCurvesSpec(s.epochs, s.targetMs);
    }
    if (s.strategy === 'evolution') {
      const evo = evolutionSpec(s.visited, s.targetMs);
      if (evo) specs.evolution = evo;
    }
  }
  if (m.arch?.units) specs.units = unitsSpec(m.arch.units);
  if (m.latency) {
    const target = m.latency.targetMs;
    specs.latency = valueBarsSpec('latency', m.latency.rows, 'latency (ms)', fmtMs, target !== null ? { value: target, label: `target ${fmtMs(target)}` } : null, false);
  }
  if (m.accuracy.length > 0) specs.accuracy = valueBarsSpec('accuracy', m.accuracy, 'top-1 accuracy (%)', (v) => fmtPct(v), null, true);
  const h = m.train?.metrics.history ?? [];
  if (h.length > 1) specs.train = trainCurvesSpec(h);
  if (m.adapt && m.adapt.steps.length > 0) specs.adapt = adaptSpec(m.adapt);
  return specs;
}

/** Writes `runDir/report.html` and returns its path. */
export async function writeReport(runDir: string, opts: ReadRunOptions = {}): Promise<string> {
  const model = buildModel(readRun(runDir, opts));
  const figures: Figures = {};
  for (const [name, spec] of Object.entries(reportSpecs(model)) as [FigureName, vl.TopLevelSpec][]) {
    figures[name] = await figureSvg(spec);
  }
  const path = join(runDir, 'report.html');
  writeFileAtomic(path, renderPage(model, figures));
  return path;
}
