// The web shell's stream framing (docs/web.md, "The stream: WebSocket framing"): every message is
// binary, its first byte is the type, the rest the payload. Pure: Uint8Array in, Uint8Array out,
// no Node API, so the gateway and the browser UI share this file.

import { PodshellError } from './errors.ts';

/** The first byte of every stream message. */
export const WebshellType = {
  // client → gateway
  INPUT: 0x00,
  RESIZE: 0x01,
  ACK: 0x02,
  RESUME: 0x03,
  CLOSE_STDIN: 0x04,
  // gateway → client
  OUTPUT: 0x10,
  JOINED: 0x11,
  EXIT: 0x12,
  ERROR: 0x13,
  NOTICE: 0x14,
} as const;

/** Largest message either side accepts, type byte included. */
export const maxWebshellMessage = 64 * 1024; // 64 KiB

/** Offsets travel as 8 bytes but stay below 2^53 so a JavaScript number holds them exactly. */
const maxOffset = Number.MAX_SAFE_INTEGER;

export type WebshellErrorCode = 'ERR_WEBSHELL_UNKNOWN_TYPE' | 'ERR_WEBSHELL_LENGTH' | 'ERR_WEBSHELL_PAYLOAD';

/** A stream message that cannot be decoded; the gateway closes the socket with 1008 for it. */
export class WebshellMessageError extends PodshellError {
  declare readonly code: WebshellErrorCode;

  constructor(code: WebshellErrorCode, message: string) {
    super(code, `Invalid web shell message: ${message}`);
    this.name = 'WebshellMessageError';
  }
}

export type ClientMessage =
  | { type: 'input'; data: Uint8Array }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; offset: number }
  | { type: 'resume'; offset: number }
  | { type: 'close-stdin' };

/** The session as the HTTP API and the `joined` message describe it. */
export interface SessionDescription {
  id: string;
  cluster: string;
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  tty: boolean;
  cols: number;
  rows: number;
  state: 'running' | 'exited';
  exitCode: number | null;
  created: string;
  produced: number;
  joined: boolean;
}

export interface JoinedInfo {
  session: SessionDescription;
  /** Output follows from this offset. */
  offset: number;
  /** Bytes between the requested offset and `offset` that the ring buffer no longer held. */
  skipped: number;
}

export interface ExitInfo {
  code: number;
  message?: string;
}

export interface ErrorInfo {
  code: string;
  message: string;
  status?: number;
}

export type EndingReason = 'idle' | 'max-duration' | 'grace' | 'ended' | 'gateway-stopping';

export type Notice =
  | { kind: 'idle-warning'; secondsLeft: number }
  | { kind: 'ending'; reason: EndingReason }
  /** Sent after `joined` when the gateway records what the client types (--record-input). */
  | { kind: 'recording-input' };

export type ServerMessage =
  | { type: 'output'; offset: number; data: Uint8Array }
  | { type: 'joined'; joined: JoinedInfo }
  | { type: 'exit'; exit: ExitInfo }
  | { type: 'error'; error: ErrorInfo }
  | { type: 'notice'; notice: Notice };

// ---- encoding ----

function withType(type: number, payloadLength: number): Uint8Array {
  const out = new Uint8Array(1 + payloadLength);
  out[0] = type;
  return out;
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`an offset must be an integer from 0 to 2^53-1, not ${offset}`);
}

function writeOffset(out: Uint8Array, at: number, offset: number): void {
  checkOffset(offset);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(at, Math.floor(offset / 0x1_0000_0000));
  view.setUint32(at + 4, offset >>> 0);
}

function offsetMessage(type: number, offset: number): Uint8Array {
  const out = withType(type, 8);
  writeOffset(out, 1, offset);
  return out;
}

function jsonMessage(type: number, value: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(value));
  const out = withType(type, json.length);
  out.set(json, 1);
  return out;
}

export const encodeInput = (data: Uint8Array): Uint8Array => {
  const out = withType(WebshellType.INPUT, data.length);
  out.set(data, 1);
  return out;
};

export function encodeResize(cols: number, rows: number): Uint8Array {
  for (const [name, v] of [['cols', cols], ['rows', rows]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new RangeError(`${name} must be an integer from 1 to 65535, not ${v}`);
  }
  const out = withType(WebshellType.RESIZE, 4);
  const view = new DataView(out.buffer);
  view.setUint16(1, cols);
  view.setUint16(3, rows);
  return out;
}

export const encodeAck = (offset: number): Uint8Array => offsetMessage(WebshellType.ACK, offset);
export const encodeResume = (offset: number): Uint8Array => offsetMessage(WebshellType.RESUME, offset);
export const encodeCloseStdin = (): Uint8Array => withType(WebshellType.CLOSE_STDIN, 0);

/** `output`: the offset of the first byte, then the bytes. */
export function encodeOutput(offset: number, data: Uint8Array): Uint8Array {
  const out = withType(WebshellType.OUTPUT, 8 + data.length);
  writeOffset(out, 1, offset);
  out.set(data, 9);
  return out;
}

export const encodeJoined = (joined: JoinedInfo): Uint8Array => jsonMessage(WebshellType.JOINED, joined);
export const encodeExit = (exit: ExitInfo): Uint8Array => jsonMessage(WebshellType.EXIT, exit);
export const encodeError = (error: ErrorInfo): Uint8Array => jsonMessage(WebshellType.ERROR, error);
export const encodeNotice = (notice: Notice): Uint8Array => jsonMessage(WebshellType.NOTICE, notice);

export function encodeClientMessage(message: ClientMessage): Uint8Array {
  switch (message.type) {
    case 'input':
      return encodeInput(message.data);
    case 'resize':
      return encodeResize(message.cols, message.rows);
    case 'ack':
      return encodeAck(message.offset);
    case 'resume':
      return encodeResume(message.offset);
    case 'close-stdin':
      return encodeCloseStdin();
  }
}

export function encodeServerMessage(message: ServerMessage): Uint8Array {
  switch (message.type) {
    case 'output':
      return encodeOutput(message.offset, message.data);
    case 'joined':
      return encodeJoined(message.joined);
    case 'exit':
      return encodeExit(message.exit);
    case 'error':
      return encodeError(message.error);
    case 'notice':
      return encodeNotice(message.notice);
  }
}

// ---- decoding ----

const clientNames: Record<number, string> = { 0x00: 'input', 0x01: 'resize', 0x02: 'ack', 0x03: 'resume', 0x04: 'close-stdin' };
const serverNames: Record<number, string> = { 0x10: 'output', 0x11: 'joined', 0x12: 'exit', 0x13: 'error', 0x14: 'notice' };

const hexByte = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

function expectLength(bytes: Uint8Array, name: string, payload: number): void {
  if (bytes.length - 1 !== payload) {
    throw new WebshellMessageError('ERR_WEBSHELL_LENGTH', `${name} (${hexByte(bytes[0]!)}) carries ${payload} payload bytes, got ${bytes.length - 1}`);
  }
}

function readOffset(bytes: Uint8Array, at: number, name: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = view.getUint32(at);
  const low = view.getUint32(at + 4);
  if (high > 0x1f_ffff) throw new WebshellMessageError('ERR_WEBSHELL_PAYLOAD', `${name} offset must be below 2^53`);
  return high * 0x1_0000_0000 + low;
}

function readJson(bytes: Uint8Array, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(1)));
  } catch {
    throw new WebshellMessageError('ERR_WEBSHELL_PAYLOAD', `${name} payload is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WebshellMessageError('ERR_WEBSHELL_PAYLOAD', `${name} payload is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Decode a client → gateway message. Throws WebshellMessageError. The input's bytes are not copied. */
export function decodeClientMessage(bytes: Uint8Array): ClientMessage {
  if (bytes.length === 0) throw new WebshellMessageError('ERR_WEBSHELL_LENGTH', 'an empty message has no type');
  const type = bytes[0]!;
  const name = clientNames[type];
  if (name === undefined) throw new WebshellMessageError('ERR_WEBSHELL_UNKNOWN_TYPE', `unknown client message type ${hexByte(type)}`);
  switch (type) {
    case WebshellType.INPUT:
      return { type: 'input', data: bytes.subarray(1) };
    case WebshellType.RESIZE: {
      expectLength(bytes, name, 4);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const cols = view.getUint16(1);
      const rows = view.getUint16(3);
      if (cols === 0 || rows === 0) throw new WebshellMessageError('ERR_WEBSHELL_PAYLOAD', `resize to ${cols}x${rows}: columns and rows must be 1 to 65535`);
      return { type: 'resize', cols, rows };
    }
    case WebshellType.ACK:
    case WebshellType.RESUME:
      expectLength(bytes, name, 8);
      return { type: type === WebshellType.ACK ? 'ack' : 'resume', offset: readOffset(bytes, 1, name) };
    default:
      expectLength(bytes, name, 0);
      return { type: 'close-stdin' };
  }
}

/** Decode a gateway → client message. Throws WebshellMessageError. `output` data is a view, not a copy. */
export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  if (bytes.length === 0) throw new WebshellMessageError('ERR_WEBSHELL_LENGTH', 'an empty message has no type');
  const type = bytes[0]!;
  const name = serverNames[type];
  if (name === undefined) throw new WebshellMessageError('ERR_WEBSHELL_UNKNOWN_TYPE', `unknown gateway message type ${hexByte(type)}`);
  switch (type) {
    case WebshellType.OUTPUT:
      if (bytes.length < 9) throw new WebshellMessageError('ERR_WEBSHELL_LENGTH', `output (0x10) carries at least 8 payload bytes, got ${bytes.length - 1}`);
      return { type: 'output', offset: readOffset(bytes, 1, name), data: bytes.subarray(9) };
    case WebshellType.JOINED:
      return { type: 'joined', joined: readJson(bytes, name) as unknown as JoinedInfo };
    case WebshellType.EXIT:
      return { type: 'exit', exit: readJson(bytes, name) as unknown as ExitInfo };
    case WebshellType.ERROR:
      return { type: 'error', error: readJson(bytes, name) as unknown as ErrorInfo };
    default:
      return { type: 'notice', notice: readJson(bytes, name) as unknown as Notice };
  }
}
