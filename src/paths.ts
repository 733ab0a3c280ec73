import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root (this file compiles to dist/src/paths.js). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const LATNAS_VERSION: string = (JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string }).version;
