// Guest data clusters encrypted as qemu encrypts them: whole 512-byte sectors, each numbered for
// its IV by its host offset (luks: qemu's crypt_physical_offset) or its guest offset (legacy aes).
// Metadata is never encrypted.
import type { AmendSettings, BlockCryptoVolume, BlockNode } from '@tessera/core';
import { codedError } from '../errors.ts';
import { readHost } from '../host-read.ts';
import type { EncryptionHeaderPlace } from './header-extension.ts';

const SECTOR = 512;

export class DataCipher {
  constructor(
    private readonly volume: BlockCryptoVolume,
    /** `aes` or `luks`: which offset numbers the sectors, what `info` shows. */
    readonly format: 'aes' | 'luks',
    /** Where the LUKS header lies (the check counts its clusters). */
    readonly headerPlace: EncryptionHeaderPlace | undefined,
  ) {}

  private sector(host: number, guest: number): number {
    return (this.format === 'luks' ? host : guest) / SECTOR;
  }

  /** An encrypted copy of `data`, to be stored at host offset `host` (guest offset `guest`); both sector aligned. */
  encrypted(host: number, guest: number, data: Uint8Array): Uint8Array {
    aligned(host, data.length);
    const copy = data.slice();
    this.volume.encrypt(copy, this.sector(host, guest));
    return copy;
  }

  /** Decrypt in place what was read from host offset `host` (guest offset `guest`). */
  decrypt(host: number, guest: number, data: Uint8Array): void {
    aligned(host, data.length);
    this.volume.decrypt(data, this.sector(host, guest));
  }

  /** Read `into` from `file` at `host` decrypted; a range not in whole sectors is read in the sectors around it. */
  async read(file: BlockNode, host: number, guest: number, into: Uint8Array): Promise<void> {
    const lead = host % SECTOR;
    if (lead === 0 && into.length % SECTOR === 0) {
      await readHost(file, host, into);
      this.decrypt(host, guest, into);
      return;
    }
    const whole = new Uint8Array(Math.ceil((lead + into.length) / SECTOR) * SECTOR);
    await readHost(file, host - lead, whole);
    this.decrypt(host - lead, guest - lead, whole);
    into.set(whole.subarray(lead, lead + into.length));
  }

  /** amend's `encrypt.*` key-slot changes (options without the prefix); qemu amends LUKS headers only. */
  async amend(options: Readonly<Record<string, string>>, settings: AmendSettings): Promise<void> {
    if (this.format !== 'luks' || !this.volume.amend) throw codedError('Only LUKS encryption options can be amended', 'invalid-option');
    await this.volume.amend(options, settings);
  }

  /** `info`'s `encrypt` block (qemu's keys and order). */
  describe(): Readonly<Record<string, unknown>> {
    return this.volume.describe();
  }
}

function aligned(offset: number, length: number): void {
  if (offset % SECTOR !== 0 || length % SECTOR !== 0) throw new Error(`internal error: encrypted access of ${length} bytes at ${offset} is not in whole sectors`);
}
