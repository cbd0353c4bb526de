// QEMU's stream framing for `-netdev socket` over TCP: every Ethernet frame is preceded by its length
// as a 4-byte big-endian number. Nothing else is on the wire (no vnet header, no handshake).

/** QEMU's receive buffer (NET_BUFSIZE, 4096 + 65536): longer frames make it drop the connection. */
export const MAX_FRAME_LENGTH = 69_632;
const HEADER_LENGTH = 4;

export class FramingError extends Error {}

/** One frame with its length prefix, ready for a single write. */
export function encodeFrame(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, HEADER_LENGTH);
  return out;
}

/**
 * Reassembles frames from a TCP byte stream, whatever way the stream was cut into chunks: a chunk may
 * end inside a length prefix or a frame, or hold many frames.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(HEADER_LENGTH);
  private headerFilled = 0;
  private frame: Uint8Array | undefined;
  private frameFilled = 0;

  constructor(private readonly onFrame: (frame: Uint8Array) => void) {}

  /** Take the next bytes of the stream; throws FramingError on a length no Ethernet frame can have. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.frame === undefined) {
        const take = Math.min(HEADER_LENGTH - this.headerFilled, chunk.length - offset);
        this.header.set(chunk.subarray(offset, offset + take), this.headerFilled);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled < HEADER_LENGTH) return;
        this.headerFilled = 0;
        this.frame = new Uint8Array(checkedLength(this.header.readUInt32BE(0)));
        this.frameFilled = 0;
      } else {
        const take = Math.min(this.frame.length - this.frameFilled, chunk.length - offset);
        this.frame.set(chunk.subarray(offset, offset + take), this.frameFilled);
        this.frameFilled += take;
        offset += take;
      }
      if (this.frame.length === this.frameFilled) {
        const frame = this.frame;
        this.frame = undefined;
        this.onFrame(frame);
      }
    }
  }
}

function checkedLength(length: number): number {
  // QEMU passes a zero-length frame on to the NIC; no NIC can use one and it is most likely a peer
  // that does not speak this framing, so we drop the connection instead.
  if (length === 0) throw new FramingError('zero-length frame received');
  if (length > MAX_FRAME_LENGTH) throw new FramingError(`oversized frame received (${length} bytes, at most ${MAX_FRAME_LENGTH})`);
  return length;
}
