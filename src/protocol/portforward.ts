// Port-forward over WebSocket (docs/protocol.md, "Port-forward"): the request URL, the channel
// pair of each forwarded port, the 2-byte port header a server writes first on both channels,
// and kubectl's `[LOCAL:]REMOTE` port specs.

import { PodshellError } from './errors.ts';
import { V4, V4_BASE64 } from './subprotocol.ts';

/** The subprotocols a port-forward WebSocket offers, in order: binary first. */
export const portForwardProtocols: readonly (typeof V4 | typeof V4_BASE64)[] = [V4, V4_BASE64];

/** Bytes of the port header at the start of both channels of a port. */
export const PORT_HEADER_BYTES = 2;

/** A `[LOCAL:]REMOTE` pair. `local` 0 asks for a random free local port. */
export interface PortMapping {
  readonly local: number;
  readonly remote: number;
}

export class PortSpecError extends PodshellError {
  constructor(message: string) {
    super('ERR_PORT_SPEC', message);
    this.name = 'PortSpecError';
  }
}

/** The data channel of the port at `index` in the request's list (client ↔ server). */
export function dataChannel(index: number): number {
  return 2 * index;
}

/** The error channel of the port at `index` (server → client; text means the connection failed). */
export function errorChannel(index: number): number {
  return 2 * index + 1;
}

/** Which port and which of its two channels a channel id belongs to. */
export function portOfChannel(channel: number): { index: number; error: boolean } {
  return { index: channel >> 1, error: (channel & 1) === 1 };
}

/** The port header: the port number as an unsigned 16-bit little-endian value. */
export function encodePortHeader(port: number): Uint8Array {
  checkPort(port, 'port');
  return Uint8Array.of(port & 0xff, port >> 8);
}

/** The port a header names; undefined when fewer than 2 bytes are given. */
export function decodePortHeader(bytes: Uint8Array): number | undefined {
  if (bytes.length < PORT_HEADER_BYTES) return undefined;
  return bytes[0]! | (bytes[1]! << 8);
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PortSpecError(`${what} must be an integer from 1 to 65535, got ${String(port)}`);
}

/** Go's strconv.ParseUint(s, 10, 16), with its error text (kubectl prints it). */
function parseUint16(text: string): number | string {
  const syntax = `strconv.ParseUint: parsing ${JSON.stringify(text)}: invalid syntax`;
  if (!/^[0-9]+$/.test(text)) return syntax;
  const value = Number(text);
  if (value > 65535) return `strconv.ParseUint: parsing ${JSON.stringify(text)}: value out of range`;
  return value;
}

/**
 * One of kubectl's port specs: `5000` (same port both sides), `8888:5000`, `:5000` or `0:5000`
 * (a random free local port). Errors carry kubectl's wording.
 * @throws PortSpecError ERR_PORT_SPEC
 */
export function parsePortSpec(spec: string): PortMapping {
  const parts = spec.split(':');
  if (parts.length > 2) throw new PortSpecError(`invalid port format '${spec}'`);
  const localText = parts.length === 2 ? parts[0] || '0' : parts[0]!;
  const remoteText = parts.length === 2 ? parts[1]! : parts[0]!;
  const local = parseUint16(localText);
  if (typeof local === 'string') throw new PortSpecError(`error parsing local port '${localText}': ${local}`);
  const remote = parseUint16(remoteText);
  if (typeof remote === 'string') throw new PortSpecError(`error parsing remote port '${remoteText}': ${remote}`);
  if (remote === 0) throw new PortSpecError('remote port must be > 0');
  return { local, remote };
}

/** Every spec of a list, in order; the first bad one throws. */
export function parsePortSpecs(specs: readonly string[]): PortMapping[] {
  return specs.map(parsePortSpec);
}

export interface PortForwardRequest {
  readonly namespace: string;
  readonly pod: string;
  /** Remote ports, in channel order: the i-th uses channels 2i and 2i+1. */
  readonly ports: readonly number[];
}

/**
 * The WebSocket URL of a port-forward request against `server` (the cluster's https URL, possibly
 * with a path prefix): one `ports=` parameter per port, in channel order.
 */
export function buildPortForwardUrl(server: string, request: PortForwardRequest): URL {
  const base = new URL(server);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new SyntaxError(`Invalid URL: ${server}: the server must be an http or https URL`);
  }
  if (request.ports.length === 0) throw new PortSpecError('at least one port is required');
  for (const port of request.ports) checkPort(port, 'a remote port');
  const prefix = base.pathname.replace(/\/+$/, '');
  const url = new URL(base.href);
  url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${prefix}/api/v1/namespaces/${encodeURIComponent(request.namespace)}/pods/${encodeURIComponent(request.pod)}/portforward`;
  const params = new URLSearchParams();
  for (const port of request.ports) params.append('ports', String(port));
  url.search = params.toString();
  return url;
}

/**
 * The ports of a request, read as the server reads them: every `ports` value, each split on
 * commas. Throws PortSpecError when the list is empty or a value is not a port from 1 to 65535.
 */
export function parsePortForwardQuery(params: URLSearchParams): number[] {
  const ports: number[] = [];
  for (const value of params.getAll('ports')) {
    for (const part of value.split(',')) {
      const port = /^[0-9]+$/.test(part.trim()) ? Number(part.trim()) : NaN;
      if (!(port >= 1 && port <= 65535)) throw new PortSpecError(`invalid port "${part}": a port must be from 1 to 65535`);
      ports.push(port);
    }
  }
  if (ports.length === 0) throw new PortSpecError('query parameter "port" is required');
  return ports;
}
