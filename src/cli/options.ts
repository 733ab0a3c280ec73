/**
 * What several commands share, declared once: the value parsers (one integer parser, one number
 * parser, one choice check) and the options more than one command takes, so a flag two commands
 * share has one description, default and error line.
 *
 * Choices are checked by `choice()` in the action rather than by commander's `Option.choices()`,
 * which would append "(choices: ...)" to help lines that already list them and turn the one-line
 * error `latnas: --strategy 'grid': use one of dnas, evolution, random` (asserted by the tests) into
 * commander's "argument 'grid' is invalid. Allowed choices are dnas, evolution, random.".
 */
import { InvalidArgumentError, Option } from 'commander';
import { datasetSpecsText } from '../datasets/load.js';
import { DEVICE_LIMITS } from '../device/device.js';
import { fail, LatnasError } from '../errors.js';
import { parseInputShape } from '../space/derive.js';

/** Parses an integer flag; out of range is commander's usage error (`--seed must be an integer >= 0`). */
export function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`${name} must be an integer ${range}`);
    }
    return n;
  };
}

/** Parses a finite number flag of at least `min`. */
export function floatOption(name: string, min: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}`);
    return n;
  };
}

/**
 * `value` when it is one of `choices`, else one `latnas:` line naming the flag: `use a or b`, or
 * `use one of a, b, c` for the lists that grow with the code (strategies, backends).
 */
export function choice<T extends string>(flag: string, value: string, choices: readonly T[], say: 'or' | 'one of' = 'or'): T {
  if (!(choices as readonly string[]).includes(value)) {
    const list = say === 'one of' ? `one of ${choices.join(', ')}` : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
    fail(`${flag} '${value}': use ${list}`);
  }
  return value as T;
}

/** --target-ms: a positive number of milliseconds, or 'baseline'. */
export function targetMs(value: string): number | 'baseline' {
  if (value === 'baseline') return value;
  const target = Number(value);
  if (!Number.isFinite(target) || target <= 0) fail(`--target-ms '${value}': give a positive number of milliseconds or "baseline"`);
  return target;
}

/** --quantize: int8, or absent for float32. */
export function quantizeMode(value: string | undefined): 'int8' | undefined {
  if (value !== undefined && value !== 'int8') fail(`--quantize '${value}' is not supported; use --quantize int8 or leave it out for float32`);
  return value;
}

// The shared options (`--strategy` is search.ts's, beside the strategies it lists). Each call makes
// a new Option, so no command can change another's.

export const quietOption = () => new Option('--quiet', 'no progress output').default(false);

export const seedOption = (description = 'seed', fallback = 1) => new Option('--seed <n>', description).argParser(intOption('--seed', 0)).default(fallback);

export const backendOption = (description = 'auto, tensorflow, wasm or cpu') => new Option('--backend <name>', description).default('auto');

export const targetOption = (fallback: number | 'baseline') =>
  new Option('--target-ms <ms|baseline>', 'latency budget in ms, or "baseline": the MobileNetV2-style arch\'s LUT latency').default(String(fallback));

export const quantizeOption = (description: string) => new Option('--quantize <mode>', description);

export const roundsOption = (description = 'interleaved rounds (default: the device\'s)') =>
  new Option('--rounds <n>', description).argParser(intOption('--rounds', 1, DEVICE_LIMITS.rounds));

export const runsOption = (what: 'model' | 'net') =>
  new Option('--runs <n>', `timed runs per ${what} per round (default: the device's)`).argParser(intOption('--runs', 1, DEVICE_LIMITS.runsPerRound));

export const datasetOption = () => new Option('--dataset <spec>', datasetSpecsText()).makeOptionMandatory();

/** --input CxHxW: the space derived at another input (src/space/derive.ts). */
export const inputOption = () => new Option('--input <CxHxW>', 'derive the space at this input, e.g. 3x64x64 (same stages; stem and strides adjusted; its own name and table)')
  .argParser((v: string) => {
    try {
      return parseInputShape(v);
    } catch (e) {
      // commander's usage error, like every other flag's bad value.
      if (e instanceof LatnasError) throw new InvalidArgumentError(e.message.replace(/^--input '[^']*': /, ''));
      throw e;
    }
  });

/** --skip-bad: a folder dataset's undecodable images counted and listed instead of stopping the load. */
export const skipBadOption = () => new Option('--skip-bad', 'folder datasets: skip images that cannot be decoded (listed in the run folder\'s images/bad-images.txt)').default(false);

export const runFolderOption = () => new Option('--out <dir>', 'run folder (e.g. runs/NAME)').makeOptionMandatory();

/** Data-parallel training threads; the default (every core) is TRAIN_DEFAULTS.workers. */
export const workersOption = (fallback: number, description = 'worker threads for data-parallel training (1: this thread only)') =>
  new Option('--workers <n>', description).argParser(intOption('--workers', 1, 256)).default(fallback);

export const batchOption = (fallback: number) => new Option('--batch <n>', 'batch size').argParser(intOption('--batch', 1)).default(fallback);

export const momentumOption = (fallback: number) =>
  new Option('--momentum <x>', 'SGD momentum (Nesterov)').argParser(floatOption('--momentum', 0)).default(fallback);

export const weightDecayOption = (fallback: number) =>
  new Option('--wd <x>', 'weight decay on conv and fc weights').argParser(floatOption('--wd', 0)).default(fallback);
