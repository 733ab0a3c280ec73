/**
 * What changed between the settings a resumable run recorded and the ones it is resumed with:
 * `key was X, now Y` per differing key, '' when none (search and the pipeline refuse to resume then).
 */
export function describeChange(saved: Record<string, unknown>, now: Record<string, unknown>): string {
  const keys = Object.keys({ ...saved, ...now }).filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]));
  return keys.map((k) => `${k} was ${JSON.stringify(saved[k])}, now ${JSON.stringify(now[k])}`).join('; ');
}
