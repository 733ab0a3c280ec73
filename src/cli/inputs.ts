/** The files commands read, named for the overwrite checks, and the --arch argument resolved against a space. */
import { deviceFile } from '../device/device.js';
import { fail } from '../errors.js';
import { readArchArgument, resolveArch } from '../space/arch.js';
import type { Shape } from '../space/ir.js';
import { loadSpace, spaceAt, type Space } from '../space/spaces.js';
import { inputFile, type Input } from '../util/outputs.js';

/** The --device and --space files a command reads (built-in space names are no files; a device name is its devices/NAME.json). */
export function deviceSpaceInputs(device: string | undefined, space: string | undefined): (Input | undefined)[] {
  return [device === undefined ? undefined : inputFile('the --device file', deviceFile(device)), inputFile('the --space file', space)];
}

/** The --arch file, when --arch names one rather than listing blocks. */
export function archInput(arch: string): Input | undefined {
  return inputFile('the --arch file', arch);
}

/** Resolves ARCH against a space; an arch file's own space must agree with --space. */
export function archFor(space: Space, archArg: string) {
  const arch = readArchArgument(archArg);
  if (arch.space && arch.space !== space.name) {
    fail(`${arch.source}: is for space '${arch.space}' but the space is '${space.name}'; pass --space ${arch.space}`);
  }
  return resolveArch(space, arch.blocks, arch.source);
}

/** --space, derived at --input when given. */
export function spaceFrom(nameOrPath: string, input: Shape | undefined): Space {
  return spaceAt(loadSpace(nameOrPath), { input });
}
