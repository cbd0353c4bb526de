/**
 * The declarative form of an image format's signature: what a format module declares in its
 * package.json (`tessera.signatures`), the build checks and compiles into each executable's
 * module list, and core's own table (unprovided-signatures.json) uses for the formats no module
 * provides. Data only, so probing needs no driver code: the module loads after its signature matched.
 *
 * A signature matches when every one of its tests passes on the sector it looks at: `head` (the
 * image's first 512 bytes, the default), `tail` (its last 512 bytes, for a trailer such as a fixed
 * VHD's footer or a DMG's koly block), or `name` (the file name, qemu's `.dmg` rule).
 */

/** A 32-bit field: equal to a value, or within bounds; numbers or "0x…" strings. */
export type NumberTest = number | string | { readonly min?: number | string; readonly max?: number | string };

export type SignatureTest =
  /** These bytes at `at`: each character one byte (latin1; "\u00fb" is 0xfb, "\u0000" NUL). */
  | { readonly at: number; readonly ascii: string }
  | { readonly at: number; readonly u32le: NumberTest }
  | { readonly at: number; readonly u32be: NumberTest }
  /** A regular expression (JavaScript syntax, no flags) on the sector from `at`, each byte one character. */
  | { readonly at: number; readonly latin1: string };

export type FormatSignature =
  | { readonly format: string; readonly in?: 'head' | 'tail'; readonly all: readonly SignatureTest[] }
  /** A regular expression on the image's file name. */
  | { readonly format: string; readonly in: 'name'; readonly name: string };

/** qemu's probe buffer and the unit the probed-raw guard protects: one sector. */
export const SIGNATURE_SECTOR = 512;

type Matcher = (sector: Uint8Array) => boolean;

function numberOf(value: number | string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`signature: ${String(value)} is not a 32-bit unsigned number`);
  return n;
}

function numberMatcher(test: NumberTest): (value: number) => boolean {
  if (typeof test === 'number' || typeof test === 'string') {
    const expected = numberOf(test);
    return (value) => value === expected;
  }
  const min = test.min === undefined ? 0 : numberOf(test.min);
  const max = test.max === undefined ? 0xffffffff : numberOf(test.max);
  return (value) => value >= min && value <= max;
}

function testMatcher(test: SignatureTest): Matcher {
  const at = test.at;
  if ('ascii' in test) {
    const bytes = Uint8Array.from(test.ascii, (c) => c.charCodeAt(0));
    return (s) => {
      if (s.length < at + bytes.length) return false;
      for (let i = 0; i < bytes.length; i++) if (s[at + i] !== bytes[i]) return false;
      return true;
    };
  }
  if ('u32le' in test || 'u32be' in test) {
    const littleEndian = 'u32le' in test;
    const accepts = numberMatcher('u32le' in test ? test.u32le : test.u32be);
    return (s) => s.length >= at + 4 && accepts(new DataView(s.buffer, s.byteOffset + at, 4).getUint32(0, littleEndian));
  }
  const pattern = new RegExp(test.latin1);
  // A sector is 512 bytes: the text is short, and the build only accepts the table's own patterns.
  // apply() takes the bytes as they are (spreading a typed array goes through its iterator, much slower).
  return (s) => s.length > at && pattern.test(String.fromCharCode.apply(null, s.subarray(at) as unknown as number[]));
}

/** The lowest offset a signature's tests look at: a format whose first bytes say so comes first. */
function firstOffset(signature: FormatSignature): number {
  return 'all' in signature ? Math.min(...signature.all.map((t) => t.at)) : 0;
}

/** A sector signature, compiled when a sector first needs it. */
interface SectorSignature {
  readonly format: string;
  /** Its place in the table's order. */
  readonly rank: number;
  readonly tests: readonly SignatureTest[];
  matches?: Matcher;
}

/**
 * The signatures of one sector (head or tail), indexed by the byte they need at offset 0, so a
 * sector is tested only against the signatures its first byte allows (a raw disk's zeroes: vdi's
 * field at 64 and vmdk's text pattern) and only those are compiled.
 */
class SectorTable {
  private readonly byFirstByte = new Map<number, SectorSignature[]>();
  private readonly anyFirstByte: SectorSignature[] = [];

  add(signature: SectorSignature): void {
    const atZero = signature.tests.find((t): t is { at: number; ascii: string } => 'ascii' in t && t.at === 0);
    if (!atZero) return void this.anyFirstByte.push(signature);
    const byte = atZero.ascii.charCodeAt(0);
    const list = this.byFirstByte.get(byte) ?? [];
    list.push(signature);
    this.byFirstByte.set(byte, list);
  }

  formatOf(sector: Uint8Array): string | undefined {
    const keyed = sector.length > 0 ? this.byFirstByte.get(sector[0]!) : undefined;
    const candidates = keyed ? [...keyed, ...this.anyFirstByte].sort((a, b) => a.rank - b.rank) : this.anyFirstByte;
    for (const candidate of candidates) {
      if (!candidate.matches) {
        const tests = candidate.tests.map(testMatcher);
        candidate.matches = (s) => tests.every((t) => t(s));
      }
      if (candidate.matches(sector)) return candidate.format;
    }
    return undefined;
  }
}

/**
 * Signatures ready to match. Order does not depend on the order of the lists they come from: on a
 * sector matching two formats (only a signature away from offset 0, vdi's, can overlap another),
 * the one whose tests start earlier wins, then the format name.
 */
export class SignatureTable {
  private readonly head = new SectorTable();
  private readonly tail = new SectorTable();
  private readonly names: readonly { readonly format: string; readonly pattern: string }[];

  constructor(signatures: readonly FormatSignature[]) {
    const sorted = [...signatures].sort((a, b) => firstOffset(a) - firstOffset(b) || (a.format < b.format ? -1 : a.format > b.format ? 1 : 0));
    sorted.forEach((s, rank) => {
      if ('all' in s) (s.in === 'tail' ? this.tail : this.head).add({ format: s.format, rank, tests: s.all });
    });
    this.names = sorted.flatMap((s) => ('name' in s ? [{ format: s.format, pattern: s.name }] : []));
  }

  /** The format whose signature the first sector of an image carries, if any. */
  formatOfFirstSector(sector: Uint8Array): string | undefined {
    return this.head.formatOf(sector);
  }

  /** The format whose trailer the last sector of an image carries, if any. */
  formatOfLastSector(sector: Uint8Array): string | undefined {
    return this.tail.formatOf(sector);
  }

  /** The format a file name says (qemu takes any `.dmg` as a DMG image), if any. */
  formatOfName(filename: string): string | undefined {
    return this.names.find((n) => new RegExp(n.pattern).test(filename))?.format;
  }
}
