import type { Socket } from 'node:net';
import { BHS_LENGTH, type Pdu } from './pdu.ts';
import { corkForTick } from '@tessera/module-kit/socket/cork-for-tick';
import type { WireReader } from '@tessera/module-kit/socket/wire-reader';

/** The largest data segment this initiator accepts (declared as its MaxRecvDataSegmentLength). */
export const OUR_MAX_RECV_DATA_SEGMENT = 262144;
/** Login PDUs carry at most 8192 bytes of data (RFC 7143 §6.1), whatever is declared. */
const MAX_AHS = 255 * 4;

/** A PDU's header, read ahead of its data segment (which the caller reads: `dataLength` bytes, then `padding`). */
export interface PduHeader {
  readonly opcode: number;
  readonly header: Buffer;
  readonly dataLength: number;
  readonly padding: number;
}

/** PDUs over one TCP connection: `receive` reads the next one, checking every length against our limits. */
export class Link {
  constructor(
    readonly socket: Socket,
    readonly reader: WireReader,
  ) {}

  async receive(): Promise<Pdu> {
    const { opcode, header, dataLength, padding } = await this.receiveHeader();
    const data = dataLength + padding ? await this.reader.read(dataLength + padding) : Buffer.alloc(0);
    return { opcode, header, data: data.subarray(0, dataLength) };
  }

  /** The next PDU's header (AHS skipped); its data segment is left for the caller to read. */
  async receiveHeader(): Promise<PduHeader> {
    const header = Buffer.from(await this.reader.read(BHS_LENGTH));
    const ahs = header[4]! * 4;
    const length = header.readUIntBE(5, 3);
    if (ahs > MAX_AHS || length > OUR_MAX_RECV_DATA_SEGMENT) {
      throw Object.assign(new Error(`the target sent a PDU with a ${length}-byte data segment, above the ${OUR_MAX_RECV_DATA_SEGMENT} bytes negotiated`), { code: 'iscsi-protocol' });
    }
    if (ahs) await this.reader.read(ahs); // no AHS is asked for; skipped
    return { opcode: header[0]! & 0x3f, header, dataLength: length, padding: (4 - (length % 4)) % 4 };
  }

  /**
   * Queue a PDU's buffers. Everything sent in one turn of the event loop leaves in one writev:
   * a 2 MiB WRITE to a target taking 8 KiB segments (tgtd's default) is 512 buffers, not 512 syscalls.
   */
  send(buffers: Buffer[]): void {
    corkForTick(this.socket);
    for (const buffer of buffers) this.socket.write(buffer);
  }
}
