import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { fail } from '../errors.js';

/** First zod issue as `field.path: message`, for one-line errors. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  return `field '${path}': ${issue.message}`;
}

/** Reads and parses a JSON file, failing with one line naming the file. */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const fix = code === 'ENOENT' ? 'check the path' : code === 'EISDIR' ? 'it is a folder: give the file inside it' : 'check its permissions';
    fail(`${what} file '${path}' cannot be read (${code ?? String(e)}); ${fix}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    fail(`${what} file '${path}' is not valid JSON (${(e as Error).message}); fix the file or re-create it`);
  }
}

/** Validates `data` against `schema`, failing with one line naming the file and field. */
export function parseWith<T>(schema: z.ZodType<T>, data: unknown, source: string, fix: string): T {
  const r = schema.safeParse(data);
  if (!r.success) fail(`${source}: ${firstIssue(r.error)}; ${fix}`);
  return r.data;
}
