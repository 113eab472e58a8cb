// Errors of exec and attach sessions. Handshake failures are the kube layer's ApiStatusError
// (HTTP status plus the server's Status); these cover what happens after the upgrade.

import { PodshellError, type Status } from '../protocol/index.ts';

/** The remote side reported a failure that is not an exit code (an InternalError Status, or v1 text). */
export class RemoteError extends PodshellError {
  readonly status: Status | undefined;
  constructor(message: string, status?: Status) {
    super('ERR_REMOTE', message);
    this.name = 'RemoteError';
    this.status = status;
  }
}

/**
 * The server broke the channel protocol: a frame on an unknown channel, a bad or oversized Status,
 * the wrong frame type, an upgrade answer with a subprotocol that was not offered.
 */
export class ProtocolError extends PodshellError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PROTOCOL', message, options);
    this.name = 'ProtocolError';
  }
}

/** The connection ended before the exit status arrived: output may be incomplete. */
export class ConnectionLostError extends PodshellError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONNECTION_LOST', message, options);
    this.name = 'ConnectionLostError';
  }
}

export class TimeoutError extends PodshellError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message);
    this.name = 'TimeoutError';
  }
}

export class AbortError extends PodshellError {
  constructor(reason: unknown) {
    super('ERR_ABORTED', `the session was aborted${reason instanceof Error ? `: ${reason.message}` : reason !== undefined ? `: ${String(reason)}` : ''}`, { cause: reason });
    this.name = 'AbortError';
  }
}

/**
 * Ending stdin of a non-TTY session needs the v5 protocol (Kubernetes 1.30+). On an older cluster
 * podshell fails at once rather than hang or truncate.
 */
export class StdinCloseUnsupportedError extends PodshellError {
  constructor(protocol: string) {
    super(
      'ERR_STDIN_CLOSE_UNSUPPORTED',
      `cannot end stdin: the cluster negotiated ${protocol}, which has no way to close stdin (it needs v5.channel.k8s.io, Kubernetes 1.30 or newer); use tty: true (podshell sends ^D) or a command that does not wait for end of input`,
    );
    this.name = 'StdinCloseUnsupportedError';
  }
}

/** A call that does not fit the session (resize without a TTY), or a required option missing or of the wrong type. */
export class UsageError extends PodshellError {
  constructor(message: string) {
    super('ERR_USAGE', message);
    this.name = 'UsageError';
  }
}
