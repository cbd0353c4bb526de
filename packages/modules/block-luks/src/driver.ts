// The adapter to core's driver contract: the format knowledge is in header.ts, algorithms.ts,
// keyslots.ts, sector-cipher.ts and create.ts.
import type { AmendSettings, BlockFormatDriver, BlockNode, BlockOpenOptions, BlockSecrets, BlockStatus, ImageDescription, ResizeOptions } from '@tessera/core';
import { masterKeyBytes, type CipherSuite } from './algorithms.ts';
import { amendKeySlots } from './amend.ts';
import { amendOptionTable, parseKeySlotChange } from './amend-options.ts';
import { createOptionTable, openOptionTable, parseCreateOptions } from './create-options.ts';
import { checkCreation, createLuks, payloadOffsetSectors } from './create.ts';
import { describeLuks } from './describe.ts';
import { codedError } from './errors.ts';
import { SECTOR_SIZE, type LuksHeader } from './header.ts';
import type { SectorCipher } from './sector-cipher.ts';
import { openVolume, type LuksVolume } from './volume.ts';

export const luksFormat: BlockFormatDriver = {
  name: 'luks',
  // The payload of a new image is unwritten: it decrypts to noise, not zeroes (qemu's has_zero_init false).
  capabilities: { createdNotZero: true },
  createOptions: createOptionTable,
  openOptions: openOptionTable,
  amendOptions: amendOptionTable,
  open: openLuks,
  checkCreate({ formatOptions, secrets }) {
    checkCreation(parseCreateOptions(formatOptions), secrets);
  },
  async create(file, { size, formatOptions, secrets }) {
    await createLuks(file, size, parseCreateOptions(formatOptions), secrets);
  },
  // The header and key-slot area, then every payload byte (an encrypted image has no holes to leave).
  async measure(size, formatOptions, source) {
    const options = parseCreateOptions(formatOptions);
    // qemu-img builds the LUKS header to measure it, and so wants the secret named.
    if (options.keySecret === undefined) throw codedError("Parameter 'key-secret' is required for cipher", 'invalid-option');
    const bytes = payloadOffsetSectors(masterKeyBytes(options.suite)) * SECTOR_SIZE + (source?.size ?? size);
    return { required: bytes, fullyAllocated: bytes };
  },
};

async function openLuks(file: BlockNode, options: BlockOpenOptions): Promise<BlockNode> {
  // `info` reads no data: qemu opens the header alone, without the passphrase.
  const metadataOnly = options.metadataOnly ?? false;
  const volume = await openVolume(file, { keySecret: options.driverOptions['key-secret'], secrets: options.secrets, metadataOnly });
  return new LuksNode(file, volume, options.secrets, metadataOnly || options.readOnly || file.readOnly);
}

class LuksNode implements BlockNode {
  readonly driver = 'luks';
  private readonly payloadOffset: number;
  private header: LuksHeader;
  private readonly suite: CipherSuite;
  /** Absent when opened for metadata only. */
  private readonly cipher: SectorCipher | undefined;
  private readonly masterKey: Uint8Array | undefined;
  size: number;

  constructor(
    readonly child: BlockNode,
    volume: LuksVolume,
    /** The secrets of the open: amend's new-secret and old-secret name them. */
    private readonly secrets: BlockSecrets | undefined,
    readonly readOnly: boolean,
  ) {
    ({ header: this.header, suite: this.suite, cipher: this.cipher, masterKey: this.masterKey } = volume);
    const header = this.header;
    this.payloadOffset = header.payloadOffsetSector * SECTOR_SIZE;
    this.size = child.size - this.payloadOffset;
  }

  get filename(): string {
    return this.child.filename;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.inRange(offset, into.length);
    const { first, buffer } = await this.readSectors(offset, into.length);
    into.set(buffer.subarray(offset - first * SECTOR_SIZE, offset - first * SECTOR_SIZE + into.length));
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw codedError(`${this.filename}: the image is opened read-only`, 'unsupported-operation');
    this.inRange(offset, data.length);
    const cipher = this.needCipher();
    let first: number;
    let buffer: Uint8Array;
    if (offset % SECTOR_SIZE === 0 && data.length % SECTOR_SIZE === 0) {
      first = offset / SECTOR_SIZE;
      buffer = data.slice();
    } else {
      // A partial sector: read, decrypt, patch (the block layer aligns requests; this is the fallback).
      ({ first, buffer } = await this.readSectors(offset, data.length));
      buffer.set(data, offset - first * SECTOR_SIZE);
    }
    cipher.encrypt(buffer, first);
    await this.child.write(this.payloadOffset + first * SECTOR_SIZE, buffer);
  }

  /** The whole sectors covering a range, decrypted. */
  private async readSectors(offset: number, length: number): Promise<{ first: number; buffer: Uint8Array }> {
    const cipher = this.needCipher();
    const first = Math.floor(offset / SECTOR_SIZE);
    const end = Math.min(Math.ceil((offset + length) / SECTOR_SIZE) * SECTOR_SIZE, this.size);
    const buffer = new Uint8Array(end - first * SECTOR_SIZE);
    await this.child.read(this.payloadOffset + first * SECTOR_SIZE, buffer);
    cipher.decrypt(buffer, first);
    return { first, buffer };
  }

  async resize(size: number, options: ResizeOptions): Promise<void> {
    if (!this.child.resize) throw codedError(`${this.filename}: its storage cannot be resized`, 'unsupported-operation');
    await this.child.resize(this.payloadOffset + size, options);
    this.size = size;
  }

  flush(): Promise<void> {
    return this.child.flush();
  }
  close(): Promise<void> {
    return this.child.close();
  }
  async allocatedSize(): Promise<number | undefined> {
    return this.child.allocatedSize?.();
  }

  /** Everything is data, as qemu's crypto driver (no block status of its own) reports it. */
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return { length: Math.max(1, Math.min(length, this.size - offset)), zero: false, data: true, allocated: true };
  }

  /** qemu-img amend: add or erase key slots (amend.ts). */
  async amend(options: Readonly<Record<string, string>>, settings: AmendSettings = {}): Promise<void> {
    const change = parseKeySlotChange(options);
    if (this.readOnly || !this.masterKey) throw codedError(`${this.filename}: the image is opened read-only`, 'unsupported-operation');
    this.header = await amendKeySlots({ file: this.child, header: this.header, suite: this.suite, masterKey: this.masterKey }, change, this.secrets, settings);
  }

  describe(): ImageDescription {
    return describeLuks(this.header, this.suite);
  }

  private needCipher(): SectorCipher {
    if (!this.cipher) throw codedError(`${this.filename}: opened without its key (metadata only)`, 'unsupported-operation');
    return this.cipher;
  }

  private inRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw codedError(`${this.filename}: access of ${length} bytes at ${offset} is beyond the end of the image (${this.size} bytes)`, 'out-of-range');
    }
  }
}
