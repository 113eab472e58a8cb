// Frames of the channel protocols: binary `[channel][payload]`, or in the base64
// protocols a text message `'0'+channel` followed by padded standard base64 of the payload.

import { PodshellError } from './errors.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { Channel } from './channel.ts';

export interface Frame {
  readonly channel: number;
  readonly payload: Uint8Array;
}

export class FrameError extends PodshellError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'FrameError';
  }
}

const latin1 = (bytes: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
};

export function encodeBinaryFrame(channel: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(payload.length + 1);
  frame[0] = channel;
  frame.set(payload, 1);
  return frame;
}

export function encodeBase64Frame(channel: number, payload: Uint8Array): string {
  return String.fromCharCode(48 + channel) + encodeBase64(payload);
}

/** One message for `channel`: bytes for binary protocols, text for base64 ones. */
export function encodeFrame(base64: boolean, channel: number, payload: Uint8Array): Uint8Array | string {
  return base64 ? encodeBase64Frame(channel, payload) : encodeBinaryFrame(channel, payload);
}

/**
 * Decode one received message (its raw bytes, whatever the WebSocket opcode: Kubernetes servers
 * ignore it). Returns null for an empty message, which carries nothing. A base64 body that does
 * not decode throws FrameError `ERR_FRAME_BASE64` (servers drop such a message).
 */
export function decodeFrame(data: Uint8Array, base64: boolean): Frame | null {
  if (data.length === 0) return null;
  if (!base64) return { channel: data[0]!, payload: data.subarray(1) };
  const channel = data[0]! - 48;
  if (channel < 0) throw new FrameError('ERR_FRAME_CHANNEL', `Invalid channel byte 0x${data[0]!.toString(16).padStart(2, '0')} in a base64 frame`);
  const payload = decodeBase64(latin1(data.subarray(1)));
  if (payload === undefined) throw new FrameError('ERR_FRAME_BASE64', `Invalid base64 payload on channel ${channel}`);
  return { channel, payload };
}

/** The v5 half-close message for `channel`: exactly `[0xFF, channel]`. */
export function encodeCloseMessage(channel: number): Uint8Array {
  return Uint8Array.of(Channel.Close, channel);
}
