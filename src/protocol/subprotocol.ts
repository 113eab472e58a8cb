// The WebSocket subprotocols of exec and attach, and what each can do.

export const V5 = 'v5.channel.k8s.io';
export const V4 = 'v4.channel.k8s.io';
export const V4_BASE64 = 'v4.base64.channel.k8s.io';
export const V1_BASE64 = 'base64.channel.k8s.io';
export const V1 = 'channel.k8s.io';
/** What the server calls a request that offered no subprotocol at all. */
export const NONE = '';

export type Subprotocol = typeof V5 | typeof V4 | typeof V4_BASE64 | typeof V1_BASE64 | typeof V1 | typeof NONE;

export interface Capabilities {
  /** Frames are text: an ASCII channel digit then standard padded base64. */
  readonly base64: boolean;
  /** Channel 3 carries a JSON Status, always written (v4, v5); else plain text on failure only. */
  readonly statusJson: boolean;
  /** The client may half-close a channel with `[255, channel]`. */
  readonly canHalfClose: boolean;
}

const table: Record<Subprotocol, Capabilities> = {
  [V5]: { base64: false, statusJson: true, canHalfClose: true },
  [V4]: { base64: false, statusJson: true, canHalfClose: false },
  [V4_BASE64]: { base64: true, statusJson: true, canHalfClose: false },
  [V1_BASE64]: { base64: true, statusJson: false, canHalfClose: false },
  [V1]: { base64: false, statusJson: false, canHalfClose: false },
  [NONE]: { base64: false, statusJson: false, canHalfClose: false },
};

/** Every protocol a Kubernetes 1.30+ control plane serves for exec and attach, newest first. */
export const allSubprotocols: readonly Subprotocol[] = [V5, V4, V4_BASE64, V1_BASE64, V1, NONE];

export function isSubprotocol(name: string): name is Subprotocol {
  return Object.hasOwn(table, name);
}

export function capabilitiesOf(protocol: Subprotocol): Capabilities {
  return table[protocol];
}

/**
 * Split a `Sec-WebSocket-Protocol` value into the offered names, as Kubernetes does: split on
 * commas, trim spaces. An absent or empty header offers only the unnamed protocol.
 */
export function parseOffer(header: string | undefined): string[] {
  if (header === undefined) return [NONE];
  const names = header.split(',').map((name) => name.trim());
  return names.length === 0 ? [NONE] : names;
}

/**
 * The server's choice: the first protocol in the client's order that the server accepts, or
 * undefined when none matches (the server then answers 403 with an empty body).
 */
export function chooseSubprotocol(offered: readonly string[], accepted: readonly Subprotocol[]): Subprotocol | undefined {
  for (const name of offered) {
    if (isSubprotocol(name) && accepted.includes(name)) return name;
  }
  return undefined;
}
