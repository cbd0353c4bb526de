// The LUKS1 on-disk header (cryptsetup's LUKS On-Disk Format Specification 1.2, as qemu writes
// and checks it): codec and the checks every field of an untrusted file gets before use.
import { codedError } from './errors.ts';

export const SECTOR_SIZE = 512;
export const HEADER_SIZE = 592;
export const SLOT_COUNT = 8;
/** Anti-forensic stripes: the only count qemu (and cryptsetup) write or accept. */
export const STRIPES = 4000;
export const SALT_SIZE = 32;
export const DIGEST_SIZE = 20;
/** Key material starts at this byte offset and each slot's is aligned to it (cryptsetup's layout). */
export const KEY_SLOT_ALIGNMENT = 4096;
const SLOT_ENABLED = 0x00ac71f3;
const SLOT_DISABLED = 0x0000dead;
const MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe];

const FIELD = {
  version: 6,
  cipherName: 8,
  cipherMode: 40,
  hashSpec: 72,
  payloadOffset: 104,
  keyBytes: 108,
  mkDigest: 112,
  mkDigestSalt: 132,
  mkDigestIterations: 164,
  uuid: 168,
  slots: 208,
} as const;
const STRING_SIZE = 32;
const UUID_SIZE = 40;
const SLOT_SIZE = 48;

export interface KeySlot {
  readonly active: boolean;
  /** The state word is one of the two LUKS defines (checked in qemu's order, after the stripes). */
  readonly stateValid?: boolean;
  readonly iterations: number;
  readonly salt: Uint8Array;
  /** In 512-byte sectors from the start of the file. */
  readonly keyOffsetSector: number;
  readonly stripes: number;
}

export interface LuksHeader {
  /** `aes` */
  readonly cipherName: string;
  /** `xts-plain64`, `cbc-essiv:sha256`: mode, IV generator and its hash. */
  readonly cipherMode: string;
  /** The PBKDF2 and anti-forensic hash (`sha256`). */
  readonly hashSpec: string;
  /** Where the encrypted data starts, in 512-byte sectors. */
  readonly payloadOffsetSector: number;
  /** Master key length (both halves for xts). */
  readonly keyBytes: number;
  readonly mkDigest: Uint8Array;
  readonly mkDigestSalt: Uint8Array;
  readonly mkDigestIterations: number;
  readonly uuid: string;
  readonly slots: readonly KeySlot[];
}

const corrupt = (message: string) => codedError(message, 'corrupt-image');

/** Whether `bytes` starts with the LUKS magic (any version). */
export function hasLuksMagic(bytes: Uint8Array): boolean {
  return MAGIC.every((byte, i) => bytes[i] === byte);
}

/** The header in `bytes` (at least HEADER_SIZE), checked as qemu checks it (qemu's messages). */
export function parseHeader(bytes: Uint8Array): LuksHeader {
  if (bytes.length < HEADER_SIZE || !hasLuksMagic(bytes)) throw corrupt('Volume is not in LUKS format');
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const version = view.getUint16(FIELD.version);
  if (version !== 1) {
    const luks2 = version === 2 ? ': a LUKS2 header; qemu 7.2 and this program read LUKS1 only (cryptsetup convert --type luks1 converts it, where its features allow)' : '';
    throw codedError(`LUKS version ${version} is not supported${luks2}`, 'unsupported-feature');
  }
  const text = (at: number, size: number, what: string) => {
    const field = bytes.subarray(at, at + size);
    const end = field.indexOf(0);
    if (end < 0) throw corrupt(`LUKS header ${what} is not NUL terminated`);
    return new TextDecoder('latin1').decode(field.subarray(0, end));
  };
  const slots: KeySlot[] = [];
  for (let i = 0; i < SLOT_COUNT; i++) {
    const at = FIELD.slots + i * SLOT_SIZE;
    const state = view.getUint32(at);
    slots.push({
      active: state === SLOT_ENABLED,
      stateValid: state === SLOT_ENABLED || state === SLOT_DISABLED,
      iterations: view.getUint32(at + 4),
      salt: bytes.slice(at + 8, at + 8 + SALT_SIZE),
      keyOffsetSector: view.getUint32(at + 40),
      stripes: view.getUint32(at + 44),
    });
  }
  const header: LuksHeader = {
    cipherName: text(FIELD.cipherName, STRING_SIZE, 'cipher name'),
    cipherMode: text(FIELD.cipherMode, STRING_SIZE, 'cipher mode'),
    hashSpec: text(FIELD.hashSpec, STRING_SIZE, 'hash spec'),
    payloadOffsetSector: view.getUint32(FIELD.payloadOffset),
    keyBytes: view.getUint32(FIELD.keyBytes),
    mkDigest: bytes.slice(FIELD.mkDigest, FIELD.mkDigest + DIGEST_SIZE),
    mkDigestSalt: bytes.slice(FIELD.mkDigestSalt, FIELD.mkDigestSalt + SALT_SIZE),
    mkDigestIterations: view.getUint32(FIELD.mkDigestIterations),
    uuid: text(FIELD.uuid, UUID_SIZE, 'UUID'),
    slots,
  };
  checkLayout(header);
  return header;
}

/** Sectors a slot's key material occupies, rounded up as cryptsetup lays slots out. */
export function materialSectors(keyBytes: number, stripes: number): number {
  const sectors = Math.ceil((keyBytes * stripes) / SECTOR_SIZE);
  const align = KEY_SLOT_ALIGNMENT / SECTOR_SIZE;
  return Math.ceil(sectors / align) * align;
}

/** qemu's qcrypto_block_luks_check_header: slots inside the header area, apart, before the payload. */
function checkLayout(header: LuksHeader): void {
  const headerSectors = KEY_SLOT_ALIGNMENT / SECTOR_SIZE;
  if (header.payloadOffsetSector < headerSectors) throw corrupt('LUKS payload is overlapping with the header');
  if (header.mkDigestIterations === 0) throw corrupt('LUKS key iteration count is zero');
  // Key sizes beyond any cipher's are refused by the cipher lookup; this keeps the arithmetic sane first.
  if (header.keyBytes === 0 || header.keyBytes > 1024) throw codedError(`Algorithm ${header.cipherName} with key size ${header.keyBytes} bytes not supported`, 'unsupported-feature');
  const spans = header.slots.map((slot, i) => {
    if (slot.stripes !== STRIPES) throw corrupt(`Keyslot ${i} is corrupted (stripes ${slot.stripes} != ${STRIPES})`);
    if (slot.stateValid === false) throw corrupt(`Keyslot ${i} state (active/disable) is corrupted`);
    if (slot.active && slot.iterations === 0) throw corrupt(`Keyslot ${i} iteration count is zero`);
    if (slot.keyOffsetSector < headerSectors) throw corrupt(`Keyslot ${i} is overlapping with the LUKS header`);
    const length = materialSectors(header.keyBytes, slot.stripes);
    if (slot.keyOffsetSector + length > header.payloadOffsetSector) throw corrupt(`Keyslot ${i} is overlapping with the encrypted payload`);
    return { start: slot.keyOffsetSector, length };
  });
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length; j++) {
      const [a, b] = [spans[i]!, spans[j]!];
      if (a.start + a.length > b.start && b.start + b.length > a.start) throw corrupt(`Keyslots ${i} and ${j} are overlapping in the header`);
    }
  }
}

export function encodeHeader(header: LuksHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint16(FIELD.version, 1);
  const ascii = (at: number, text: string) => bytes.set(new TextEncoder().encode(text), at);
  ascii(FIELD.cipherName, header.cipherName);
  ascii(FIELD.cipherMode, header.cipherMode);
  ascii(FIELD.hashSpec, header.hashSpec);
  view.setUint32(FIELD.payloadOffset, header.payloadOffsetSector);
  view.setUint32(FIELD.keyBytes, header.keyBytes);
  bytes.set(header.mkDigest, FIELD.mkDigest);
  bytes.set(header.mkDigestSalt, FIELD.mkDigestSalt);
  view.setUint32(FIELD.mkDigestIterations, header.mkDigestIterations);
  ascii(FIELD.uuid, header.uuid);
  header.slots.forEach((slot, i) => {
    const at = FIELD.slots + i * SLOT_SIZE;
    view.setUint32(at, slot.active ? SLOT_ENABLED : SLOT_DISABLED);
    view.setUint32(at + 4, slot.iterations);
    bytes.set(slot.salt, at + 8);
    view.setUint32(at + 40, slot.keyOffsetSector);
    view.setUint32(at + 44, slot.stripes);
  });
  return bytes;
}
