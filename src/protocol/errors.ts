// The root of podshell's error hierarchy. Every error podshell raises carries a stable `code`
// (match on it, not on the message); docs/errors.md lists them all.

export class PodshellError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodshellError';
    this.code = code;
  }
}
