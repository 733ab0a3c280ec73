/**
 * The `latnas` command line (commander). Each command is a file in this folder, a thin shell over
 * a module in src/: it declares its options (the shared ones are options.ts's), checks them,
 * calls the module and prints the result.
 */
import { Command } from 'commander';
import { closeRuntimes } from '../device/runtime.js';
import { LatnasError } from '../errors.js';
import { LATNAS_VERSION } from '../paths.js';

type Register = (program: Command) => void;

/**
 * Every command's module, in the order `latnas --help` lists them. Only the one that runs is
 * loaded: train, search, export and run load TF.js (their defaults live beside the code), which
 * costs about 0.3 s a process (0.32 s for `latnas devices`, 0.66 s to import search.js), and the
 * commands that do not train should not pay for it.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  profile: async () => (await import('./profile.js')).registerProfile,
  predict: async () => (await import('./predict.js')).registerPredict,
  build: async () => (await import('./build.js')).registerBuild,
  'lut-check': async () => (await import('./lut-check.js')).registerLutCheck,
  train: async () => (await import('./train.js')).registerTrain,
  export: async () => (await import('./export.js')).registerExport,
  adapt: async () => (await import('./adapt.js')).registerAdapt,
  run: async () => (await import('./run.js')).registerRun,
  search: async () => (await import('./search.js')).registerSearch,
  spaces: async () => (await import('./spaces.js')).registerSpaces,
  devices: async () => (await import('./devices.js')).registerDevices,
  agent: async () => (await import('./agent.js')).registerAgentCommand,
  worker: async () => (await import('./worker.js')).registerWorker,
};

/** The program for `argv`: its command alone when argv names one, else all of them (for help, --version and unknown commands). */
export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command();
  program
    .name('latnas')
    .description('Hardware-aware, latency-constrained neural architecture search: profile a device, search under a latency budget, export ONNX.')
    .version(LATNAS_VERSION)
    .showHelpAfterError('(run with --help for usage)');
  const named = argv[2];
  const names = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  for (const name of names) (await COMMANDS[name]!())(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // onnxruntime-node (1.30) starts Microsoft telemetry in every process that creates a session:
  // it writes /tmp/.ses and an empty /tmp/mat-debug-<pid>.log and never removes them. latnas
  // leaves no files outside its outputs, so it is off unless the user set the variable.
  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  try {
    await (await buildProgram(argv)).parseAsync(argv);
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
