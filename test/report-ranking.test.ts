import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeReport } from '../src/report/report.js';
import { tempDir } from './helpers.js';

/** A search run folder with only its arch.json: enough for the report's search section. */
function searchOnly(dir: string, space: string): string {
  mkdirSync(join(dir, 'search'), { recursive: true });
  writeFileSync(join(dir, 'search', 'arch.json'), JSON.stringify({ space, blocks: Array(12).fill('k3_e6'), strategy: 'evolution', targetMs: 0.18, predictedMs: 0.17 }));
  return dir;
}

const summary = (space: string) => ({
  targets: {}, kendallTau: 0.6123, spearman: 0.7789, archsRetrained: 31, computeHours: 9.5,
  recipe: { space, dataset: 'fashion-mnist', hash: 'abc', results: 'results-abc.jsonl' },
});

test('report.html shows the study\'s Kendall τ with the file it comes from, and says when the study is of another space', async () => {
  const dir = tempDir();
  const study = join(dir, 'summary.json');
  writeFileSync(study, JSON.stringify(summary('fbnet-mini')));
  const run = searchOnly(join(dir, 'run'), 'fbnet-mini');
  const html = readFileSync(await writeReport(run, { studySummary: study }), 'utf8');
  const row = /<span id="ranking">(.*?)<\/span><\/span>/.exec(html)?.[1] ?? '';
  assert.match(row, /^0\.612 \(Spearman 0\.779\)/);
  assert.match(row, /over 31 archs of fbnet-mini on fashion-mnist, measured by bench:search-quality, not by this run/);
  assert.ok(row.includes(`<code>${study}</code>`), row);
  assert.doesNotMatch(row, /not this run's space/);
  const data = JSON.parse(/id="latnas-data">([\s\S]*?)<\/script>/.exec(html)![1]!) as { ranking: { kendallTau: number; source: string } };
  assert.equal(data.ranking.kendallTau, 0.6123);

  const other = searchOnly(join(dir, 'other'), 'mbv3-mini');
  assert.match(readFileSync(await writeReport(other, { studySummary: study }), 'utf8'), /archs of fbnet-mini \(not this run's space\)/);

  // No summary file: no row, and no problem reported.
  const none = readFileSync(await writeReport(run, { studySummary: join(dir, 'absent.json') }), 'utf8');
  assert.doesNotMatch(none, /id="ranking"/);
  assert.doesNotMatch(none, /could not be used/);
});
