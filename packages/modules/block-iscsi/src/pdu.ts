// iSCSI PDUs (RFC 7143 §11): a 48-byte Basic Header Segment, optional AHS, a data segment padded
// to 4 bytes. No digests (HeaderDigest/DataDigest=None is all this initiator offers).

export const BHS_LENGTH = 48;

export const OP = {
  NOP_OUT: 0x00,
  SCSI_COMMAND: 0x01,
  LOGIN_REQUEST: 0x03,
  DATA_OUT: 0x05,
  LOGOUT_REQUEST: 0x06,
  NOP_IN: 0x20,
  SCSI_RESPONSE: 0x21,
  LOGIN_RESPONSE: 0x23,
  DATA_IN: 0x25,
  LOGOUT_RESPONSE: 0x26,
  R2T: 0x31,
  ASYNC_MESSAGE: 0x32,
  REJECT: 0x3f,
} as const;

export const IMMEDIATE = 0x40;
export const FINAL = 0x80;
export const RESERVED_TAG = 0xffffffff;

/** One received PDU: its header and data segment (padding dropped). */
export interface Pdu {
  readonly opcode: number;
  readonly header: Buffer;
  readonly data: Buffer;
}

export interface PduFields {
  opcode: number;
  flags: number;
  /** Bytes 2–3 (login versions, SCSI response/status). */
  byte2?: number;
  byte3?: number;
  lun?: Buffer;
  itt: number;
  /** Bytes 20–47 written as 32-bit words at these offsets. */
  words?: Readonly<Record<number, number>>;
  cdb?: Uint8Array;
  /** Bytes 8–15 when not a LUN (login ISID + TSIH). */
  bytes8?: Buffer;
}

/** The BHS and (padded) data of one PDU, as buffers to write in order. */
export function encodePdu(fields: PduFields, data?: Uint8Array): Buffer[] {
  const header = Buffer.alloc(BHS_LENGTH);
  header[0] = fields.opcode;
  header[1] = fields.flags;
  header[2] = fields.byte2 ?? 0;
  header[3] = fields.byte3 ?? 0;
  const length = data?.length ?? 0;
  header.writeUIntBE(length, 5, 3);
  (fields.bytes8 ?? fields.lun)?.copy(header, 8);
  header.writeUInt32BE(fields.itt >>> 0, 16);
  for (const [at, value] of Object.entries(fields.words ?? {})) header.writeUInt32BE(value >>> 0, Number(at));
  if (fields.cdb) header.set(fields.cdb, 32);
  if (!data || length === 0) return [header];
  const pad = (4 - (length % 4)) % 4;
  return pad ? [header, Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(pad)] : [header, Buffer.from(data.buffer, data.byteOffset, data.length)];
}

/** SAM LUN encoding (peripheral device addressing below 256, flat space addressing up to 16383). */
export function encodeLun(lun: number): Buffer {
  const out = Buffer.alloc(8);
  if (lun < 256) out[1] = lun;
  else {
    out[0] = 0x40 | (lun >> 8);
    out[1] = lun & 0xff;
  }
  return out;
}

/** Text/login data: `key=value` pairs each ended by a NUL. */
export function encodeKeys(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/** Parse `key=value\0…`; malformed entries are an error (the caller names the target). */
export function decodeKeys(data: Buffer): Map<string, string> {
  const keys = new Map<string, string>();
  for (const entry of data.toString('utf8').split('\0')) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`malformed login key '${entry.slice(0, 64)}'`);
    keys.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return keys;
}

/**
 * The Data-Out PDUs answering one R2T: `data` in segments of at most `segment` bytes (the target's
 * MaxRecvDataSegmentLength), F on the last. One allocation holds every header (a 256 KiB burst to
 * a target taking 8 KiB segments is 32 PDUs); the data is not copied.
 */
export function encodeDataOutSequence(lun: Buffer, itt: number, ttt: number, expStatSN: number, offset: number, data: Uint8Array, segment: number): Buffer[] {
  const count = Math.max(1, Math.ceil(data.length / segment));
  const headers = Buffer.alloc(BHS_LENGTH * count);
  const buffers: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const start = i * segment;
    const length = Math.min(segment, data.length - start);
    const header = headers.subarray(i * BHS_LENGTH, (i + 1) * BHS_LENGTH);
    header[0] = OP.DATA_OUT;
    header[1] = i === count - 1 ? FINAL : 0;
    header.writeUIntBE(length, 5, 3);
    lun.copy(header, 8);
    header.writeUInt32BE(itt >>> 0, 16);
    header.writeUInt32BE(ttt >>> 0, 20);
    header.writeUInt32BE(expStatSN >>> 0, 28);
    header.writeUInt32BE(i, 36); // DataSN
    header.writeUInt32BE((offset + start) >>> 0, 40); // buffer offset
    buffers.push(header, Buffer.from(data.buffer, data.byteOffset + start, length));
    if (length % 4) buffers.push(Buffer.alloc(4 - (length % 4)));
  }
  return buffers;
}
