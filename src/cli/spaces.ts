/** `latnas spaces`: the built-in search spaces, or one space's layers and candidates (src/space/spaces.ts). */
import type { Command } from 'commander';
import { formatBlock } from '../space/blocks.js';
import { fail } from '../errors.js';
import type { Shape } from '../space/ir.js';
import { BUILTIN_SPACES, searchableLayers } from '../space/spaces.js';
import { spaceFrom } from './inputs.js';
import { inputOption } from './options.js';

export function registerSpaces(program: Command): void {
  program.command('spaces')
    .description('list the built-in search spaces, or show one space\'s layers and candidates')
    .argument('[space]', 'a space name or JSON file')
    .addOption(inputOption())
    .action((name: string | undefined, o: { input?: Shape }) => {
      if (!name) {
        if (o.input) fail('--input derives a space: name one, e.g. latnas spaces fbnet-mini --input 3x64x64');
        for (const s of Object.values(BUILTIN_SPACES)) console.log(`${s.name.padEnd(18)} ${searchableLayers(s).length} layers  ${s.description ?? ''}`);
        return;
      }
      const space = spaceFrom(name, o.input);
      console.log(`${space.name}: input ${space.input.c}x${space.input.h}x${space.input.w}, ${space.classes} classes${space.description?.startsWith('derived') ? `; ${space.description}` : ''}`);
      for (const l of searchableLayers(space)) {
        const first = l.inputs[0]!;
        const input = `${l.inputs.map((i) => i.c).join('|')}x${first.h}x${first.w}`;
        console.log(`  layer ${String(l.index).padStart(2)} stage ${l.stage} in ${input}: ${l.candidates.map(formatBlock).join(' ')}`);
      }
    });
}
