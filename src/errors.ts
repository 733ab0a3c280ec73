/**
 * A user-facing error: one line that names the file or argument, the field, and the fix.
 * The CLI prints `latnas: <message>` and exits 1 for these; anything else is a bug and gets a stack.
 */
export class LatnasError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LatnasError';
  }
}

export function fail(message: string): never {
  throw new LatnasError(message);
}
