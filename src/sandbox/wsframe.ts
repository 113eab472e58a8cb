// The header of a server's WebSocket data frame (RFC 6455 §5.2), written in front of a payload
// that is already in place, so that the whole frame goes to the socket as one buffer: a TLS
// socket copies a write of several buffers into one before encrypting it.

/** The longest header of an unmasked frame: 2 bytes, then a 64-bit payload length. */
export const MAX_HEADER_BYTES = 10;

/**
 * Writes the header of one final, unmasked binary frame of `length` payload bytes into `target`,
 * ending at `end` (where the payload starts); returns the offset where the header starts.
 */
export function writeBinaryHeader(target: Uint8Array, end: number, length: number): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`invalid payload length ${length}`);
  const size = length < 126 ? 2 : length < 0x10000 ? 4 : MAX_HEADER_BYTES;
  const start = end - size;
  if (start < 0) throw new RangeError(`no room for a ${size}-byte header before offset ${end}`);
  target[start] = 0x82; // FIN, opcode 2 (binary)
  if (size === 2) {
    target[start + 1] = length;
  } else if (size === 4) {
    target[start + 1] = 126;
    target[start + 2] = length >>> 8;
    target[start + 3] = length & 0xff;
  } else {
    target[start + 1] = 127;
    const high = Math.floor(length / 0x1_0000_0000);
    const low = length >>> 0;
    for (let i = 0; i < 4; i++) {
      target[start + 2 + i] = (high >>> (24 - 8 * i)) & 0xff;
      target[start + 6 + i] = (low >>> (24 - 8 * i)) & 0xff;
    }
  }
  return start;
}
