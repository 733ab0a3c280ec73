/**
 * One-file tensor store: [uint32 header length][JSON header][float32 data]. A checkpoint is one
 * file so it can be replaced atomically (a folder of files cannot); written by hand because
 * tfjs-core has no Node file IO (tfjs-node's is not always installable).
 */
import { readFileSync } from 'node:fs';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';

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

export function readTensorFile(path: string, what: string): { meta: unknown; tensors: Map<string, StoredTensor> } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    fail(`${what} '${path}' cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const bad = (why: string): never => fail(`${what} '${path}' is corrupt (${why}); re-create it`);
  if (buf.length < 4) bad('shorter than its header');
  const len = buf.readUInt32LE(0);
  if (4 + len > buf.length) bad('header runs past the end');
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as Header;
  } catch {
    return bad('header is not JSON');
  }
  const start = 4 + len;
  const floats = (buf.length - start) / 4;
  const copy = new Float32Array(floats);
  new Uint8Array(copy.buffer).set(buf.subarray(start, start + floats * 4));
  const tensors = new Map<string, StoredTensor>();
  for (const t of header.tensors ?? []) {
    if (t.offset + t.length > floats) bad(`tensor '${t.name}' runs past the end`);
    tensors.set(t.name, { name: t.name, shape: t.shape, data: copy.subarray(t.offset, t.offset + t.length) });
  }
  return { meta: header.meta, tensors };
}
