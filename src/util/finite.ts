/**
 * NaN- and Inf-aware helpers. NaN slips through the usual checks: `Math.max(x, NaN)` is NaN but
 * `x > NaN` and `NaN > limit` are false, so a "worse than the limit?" test passes garbage, and an
 * argmax over NaN picks index 0 on both sides of a comparison. Checks here fail closed instead.
 */

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

export function allFinite(values: ArrayLike<number>): boolean {
  return firstNonFinite(values) < 0;
}

/** The first named tensor with a non-finite value: its name, the index and the value; undefined when all are finite. */
export function findNonFinite(tensors: Iterable<{ name: string; data: ArrayLike<number> }>): { name: string; index: number; value: number } | undefined {
  for (const t of tensors) {
    const i = firstNonFinite(t.data);
    if (i >= 0) return { name: t.name, index: i, value: t.data[i]! };
  }
  return undefined;
}

/**
 * Index of the largest of `v[off .. off + k)`, or -1 when any of them is not finite: a row of
 * NaN has no top class, so it never agrees with another row and never matches a label.
 */
export function argmaxFinite(v: ArrayLike<number>, off: number, k: number): number {
  let best = 0;
  for (let j = 0; j < k; j++) {
    const x = v[off + j]!;
    if (!Number.isFinite(x)) return -1;
    if (x > v[off + best]!) best = j;
  }
  return k > 0 ? best : -1;
}

