/** `latnas devices`: the device descriptors in ./devices and the shipped ones (src/device/device.ts). */
import type { Command } from 'commander';
import { listDevices, loadDevice } from '../device/device.js';

export function registerDevices(program: Command): void {
  program.command('devices')
    .description('list device descriptors (./devices and the shipped ones)')
    .action(() => {
      for (const name of listDevices()) {
        const d = loadDevice(name);
        console.log(`${d.name.padEnd(14)} ${d.runtime} ${d.executionProvider} ${d.threads}t  ${d.description ?? ''}`);
      }
    });
}
