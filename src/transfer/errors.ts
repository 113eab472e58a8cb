// Errors of file copies. Match on `code` (docs/errors.md lists them); messages say what was
// expected and what was found, in kubectl's lower-case style. Session failures (connection lost,
// aborted, stdin close unsupported, API errors) come through unchanged with their own codes.

import { PodshellError } from '../protocol/errors.ts';

export type TransferErrorCode =
  /** A file spec that is not `[[namespace/]pod:]path` (or `TYPE/NAME:path`). */
  | 'ERR_TRANSFER_FILESPEC'
  /** The local source does not exist. */
  | 'ERR_TRANSFER_LOCAL_NOT_FOUND'
  /** The remote source does not exist. */
  | 'ERR_TRANSFER_NOT_FOUND'
  /** The container has a shell but no tar, and the copy needs tar (a directory). */
  | 'ERR_TRANSFER_NO_TAR'
  /** The container has neither a shell nor tar: nothing podshell can copy with. */
  | 'ERR_TRANSFER_NO_SHELL'
  /** The archive from the pod is not what was asked for (entries outside the requested path, unreadable tar). */
  | 'ERR_TRANSFER_CORRUPT'
  /** The archive exceeds a safety cap (entries, path depth or length, bytes). */
  | 'ERR_TRANSFER_LIMIT'
  /** Writing an entry would go through a symbolic link or over a different kind of file in the destination. */
  | 'ERR_TRANSFER_UNSAFE'
  /** The copy finished but the bytes at the other end are not the bytes sent. */
  | 'ERR_TRANSFER_INTEGRITY'
  /** A command in the container failed (tar, cat, mv…): its exit code and stderr are in the message. */
  | 'ERR_TRANSFER_REMOTE'
  /** A local file operation failed (permissions, no space, a file where a directory is needed). */
  | 'ERR_TRANSFER_LOCAL';

export class TransferError extends PodshellError {
  declare readonly code: TransferErrorCode;
  constructor(code: TransferErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TransferError';
  }
}

/** `ERR_TRANSFER_INTEGRITY`: names the file and both checksums (or sizes). */
export class IntegrityError extends TransferError {
  /** The file whose copy differs (remote path for uploads, local path for downloads). */
  readonly file: string;
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, method: 'sha256' | 'size', expected: string, actual: string) {
    super('ERR_TRANSFER_INTEGRITY', `integrity check failed for "${file}": expected ${method} ${expected}, found ${actual}`);
    this.name = 'IntegrityError';
    this.file = file;
    this.expected = expected;
    this.actual = actual;
  }
}
