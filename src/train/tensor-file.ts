/**
 * One-file tensor store: [uint32 header length][JSON header][float32 data]. A checkpoint is one
 * file so it can be replaced atomically (a folder of files cannot); written by hand because
 * tfjs-core has no Node file IO (tfjs-node's is not always installable).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';
import { firstIssue } from '../util/validate.js';

export interface StoredTensor { name: string; shape: number[]; data: Float32Array }

interface Header { meta: unknown; tensors: { name: string; shape: number[]; offset: number; length: number }[] }

export function writeTensorFile(path: string, meta: unknown, tensors: readonly StoredTensor[]): void {
  let offset = 0;
  const header: Header = { meta, tensors: tensors.map((t) => { const e = { name: t.name, shape: t.shape, offset, length: t.data.length }; offset += t.data.length; return e; }) };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad the header so the float data starts 4-byte aligned (a Float32Array view needs it).
  const pad = (4 - ((4 + json.length) % 4)) % 4;
  const out = Buffer.alloc(4 + json.length + pad + offset * 4);
  out.writeUInt32LE(json.length + pad, 0);
  json.copy(out, 4);
  out.fill(0x20, 4 + json.length, 4 + json.length + pad);
  const data = new Float32Array(out.buffer, out.byteOffset + 4 + json.length + pad, offset);
  for (const [i, t] of tensors.entries()) data.set(t.data, header.tensors[i]!.offset);
  writeFileAtomic(path, out);
}

const HeaderSchema = z.object({
  meta: z.unknown().optional(),
  tensors: z.array(z.object({
    name: z.string().min(1),
    shape: z.array(z.number().int().nonnegative()),
    offset: z.number().int().nonnegative(),
    length: z.number().int().nonnegative(),
  })),
});

export interface ReadTensorFileOptions<M> {
  /** Schema of the header's `meta`: a file whose meta does not match is refused in one line. */
  meta?: z.ZodType<M>;
  /** What to do about a corrupt file, e.g. "delete it to start over, or choose another --out". */
  fix?: string;
}

/**
 * Reads a tensor file, failing with one line (naming the file, the field and `fix`) when it is
 * truncated, its header is not the header this module writes, or its meta does not match `opts.meta`.
 */
export function readTensorFile<M = unknown>(path: string, what: string, opts: ReadTensorFileOptions<M> = {}): { meta: M; tensors: Map<string, StoredTensor> } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(`${what} '${path}' cannot be read (${code ?? String(e)}); ${code === 'EISDIR' ? 'it is a folder, not a file' : code === 'ENOENT' ? 'check the path' : 'check its permissions'}`);
  }
  const fix = opts.fix ?? 're-create it';
  const bad = (why: string): never => fail(`${what} '${path}' is corrupt (${why}); ${fix}`);
  if (buf.length < 4) bad('shorter than its header');
  const len = buf.readUInt32LE(0);
  if (4 + len > buf.length) bad('header runs past the end');
  let data: unknown;
  try {
    data = JSON.parse(buf.subarray(4, 4 + len).toString('utf8'));
  } catch {
    return bad('header is not JSON');
  }
  const parsed = HeaderSchema.safeParse(data);
  if (!parsed.success) return bad(`header ${firstIssue(parsed.error)}`);
  const header = parsed.data;
  let meta = header.meta as M;
  if (opts.meta) {
    const m = opts.meta.safeParse(header.meta);
    if (!m.success) return bad(`${firstIssue(m.error).replace(/^field '/, "field 'meta.")}`);
    meta = m.data;
  }
  const start = 4 + len;
  if ((buf.length - start) % 4 !== 0) bad(`its data is ${buf.length - start} bytes, not a whole number of float32 values`);
  const floats = (buf.length - start) / 4;
  const copy = new Float32Array(floats);
  new Uint8Array(copy.buffer).set(buf.subarray(start, start + floats * 4));
  const tensors = new Map<string, StoredTensor>();
  header.tensors.forEach((t, i) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.length) bad(`field 'tensors.${i}': tensor '${t.name}' has shape ${t.shape.join('x') || '(scalar)'} (${size} values) but length ${t.length}`);
    if (t.offset + t.length > floats) bad(`tensor '${t.name}' runs past the end`);
    if (tensors.has(t.name)) bad(`field 'tensors.${i}': tensor '${t.name}' appears twice`);
    tensors.set(t.name, { name: t.name, shape: t.shape, data: copy.subarray(t.offset, t.offset + t.length) });
  });
  return { meta, tensors };
}
