// SCSI command descriptor blocks (SBC-3/SPC-4) and sense decoding: only what the node sends.

export const STATUS_GOOD = 0x00;
export const STATUS_CHECK_CONDITION = 0x02;

function lbaCdb(opcode: number, lba: number, blocks: number, byte1 = 0): Uint8Array {
  const cdb = Buffer.alloc(16);
  cdb[0] = opcode;
  cdb[1] = byte1;
  cdb.writeBigUInt64BE(BigInt(lba), 2);
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

export const testUnitReady = (): Uint8Array => Buffer.alloc(6);

export function inquiry(page: number | undefined, allocation: number): Uint8Array {
  const cdb = Buffer.alloc(6);
  cdb[0] = 0x12;
  if (page !== undefined) {
    cdb[1] = 1; // EVPD
    cdb[2] = page;
  }
  cdb.writeUInt16BE(allocation, 3);
  return cdb;
}

export function readCapacity16(): Uint8Array {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x9e;
  cdb[1] = 0x10;
  cdb.writeUInt32BE(32, 10);
  return cdb;
}

export function readCapacity10(): Uint8Array {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x25;
  return cdb;
}

export const read16 = (lba: number, blocks: number): Uint8Array => lbaCdb(0x88, lba, blocks);
export const write16 = (lba: number, blocks: number): Uint8Array => lbaCdb(0x8a, lba, blocks);
export const synchronizeCache16 = (): Uint8Array => lbaCdb(0x91, 0, 0);
export const writeSame16 = (lba: number, blocks: number, unmap: boolean): Uint8Array => lbaCdb(0x93, lba, blocks, unmap ? 0x08 : 0);

export function synchronizeCache10(): Uint8Array {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x35;
  return cdb;
}

/** UNMAP with one block descriptor: the CDB and its parameter list. */
export function unmap(lba: number, blocks: number): { cdb: Uint8Array; parameters: Uint8Array } {
  const parameters = Buffer.alloc(24);
  parameters.writeUInt16BE(22, 0);
  parameters.writeUInt16BE(16, 2);
  parameters.writeBigUInt64BE(BigInt(lba), 8);
  parameters.writeUInt32BE(blocks, 16);
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x42;
  cdb.writeUInt16BE(parameters.length, 7);
  return { cdb, parameters };
}

export interface Sense {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
}

/** Fixed (0x70/0x71) and descriptor (0x72/0x73) sense formats; undefined when too short or unknown. */
export function decodeSense(sense: Buffer | undefined): Sense | undefined {
  if (!sense || sense.length < 3) return undefined;
  const format = sense[0]! & 0x7f;
  if ((format === 0x70 || format === 0x71) && sense.length >= 14) return { key: sense[2]! & 0x0f, asc: sense[12]!, ascq: sense[13]! };
  if ((format === 0x72 || format === 0x73) && sense.length >= 4) return { key: sense[1]! & 0x0f, asc: sense[2]!, ascq: sense[3]! };
  return undefined;
}

const SENSE_KEYS = [
  'NO SENSE', 'RECOVERED ERROR', 'NOT READY', 'MEDIUM ERROR', 'HARDWARE ERROR', 'ILLEGAL REQUEST', 'UNIT ATTENTION', 'DATA PROTECT',
  'BLANK CHECK', 'VENDOR SPECIFIC', 'COPY ABORTED', 'ABORTED COMMAND', 'RESERVED', 'VOLUME OVERFLOW', 'MISCOMPARE', 'COMPLETED',
];

/** A few additional sense codes users meet; others are shown as numbers. */
const ASC_NAMES: Record<number, string> = {
  0x0400: 'logical unit not ready',
  0x2000: 'invalid command operation code',
  0x2100: 'logical block address out of range',
  0x2400: 'invalid field in CDB',
  0x2500: 'logical unit not supported',
  0x2600: 'invalid field in parameter list',
  0x2700: 'write protected',
  0x2800: 'not ready to ready change, medium may have changed',
  0x2900: 'power on, reset, or bus device reset occurred',
  0x2a09: 'capacity data has changed',
  0x3a00: 'medium not present',
  0x1100: 'unrecovered read error',
  0x0c00: 'write error',
};

export function describeSense(sense: Sense): string {
  const code = (sense.asc << 8) | sense.ascq;
  const name = ASC_NAMES[code] ?? ASC_NAMES[sense.asc << 8];
  const hex = `ASC 0x${sense.asc.toString(16).padStart(2, '0')} ASCQ 0x${sense.ascq.toString(16).padStart(2, '0')}`;
  return `${SENSE_KEYS[sense.key]} (${name ? `${name}, ` : ''}${hex})`;
}

export const SENSE_ILLEGAL_REQUEST = 0x5;
export const SENSE_UNIT_ATTENTION = 0x6;
export const SENSE_DATA_PROTECT = 0x7;
export const ASC_LUN_NOT_SUPPORTED = 0x25;
export const ASC_INVALID_OPCODE = 0x20;
