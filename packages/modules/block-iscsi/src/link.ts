import type { Socket } from 'node:net';
import { BHS_LENGTH, type Pdu } from './pdu.ts';
import type { WireReader } from '@tessera/module-kit/socket/wire-reader';

/** The largest data segment this initiator accepts (declared as its MaxRecvDataSegmentLength). */
export const OUR_MAX_RECV_DATA_SEGMENT = 262144;
/** Login PDUs carry at most 8192 bytes of data (RFC 7143 §6.1), whatever is declared. */
const MAX_AHS = 255 * 4;

/** PDUs over one TCP connection: `receive` reads the next one, checking every length against our limits. */
export class Link {
  constructor(
    readonly socket: Socket,
    readonly reader: WireReader,
  ) {}

  async receive(): Promise<Pdu> {
    const header = await this.reader.read(BHS_LENGTH);
    const ahs = header[4]! * 4;
    const length = header.readUIntBE(5, 3);
    if (ahs > MAX_AHS || length > OUR_MAX_RECV_DATA_SEGMENT) {
      throw Object.assign(new Error(`the target sent a PDU with a ${length}-byte data segment, above the ${OUR_MAX_RECV_DATA_SEGMENT} bytes negotiated`), { code: 'iscsi-protocol' });
    }
    if (ahs) await this.reader.read(ahs); // no AHS is asked for; skipped
    const padded = length + ((4 - (length % 4)) % 4);
    const data = padded ? await this.reader.read(padded) : Buffer.alloc(0);
    return { opcode: header[0]! & 0x3f, header: Buffer.from(header), data: data.subarray(0, length) };
  }

  /** Read a PDU's header only, leaving the data segment for `readInto` (Data-In straight into the caller's buffer). */
  send(buffers: Buffer[]): void {
    for (const buffer of buffers) this.socket.write(buffer);
  }
}
