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
  return (s) => s.length > at && pattern.test(String.fromCharCode(...s.subarray(at)));
}

/** The lowest offset a signature's tests look at: a format whose first bytes say so comes first. */
function firstOffset(signature: FormatSignature): number {
  return 'all' in signature ? Math.min(...signature.all.map((t) => t.at)) : 0;
}

interface CompiledSignature {
  readonly format: string;
  readonly matches: Matcher;
}

/**
 * Signatures ready to match. Order does not depend on the order of the lists they come from: on a
 * sector matching two formats (only a signature away from offset 0, vdi's, can overlap another),
 * the one whose tests start earlier wins, then the format name.
 */
export class SignatureTable {
  private readonly head: readonly CompiledSignature[];
  private readonly tail: readonly CompiledSignature[];
  private readonly names: readonly { readonly format: string; readonly pattern: RegExp }[];

  constructor(signatures: readonly FormatSignature[]) {
    const sorted = [...signatures].sort((a, b) => firstOffset(a) - firstOffset(b) || (a.format < b.format ? -1 : a.format > b.format ? 1 : 0));
    const compile = (s: FormatSignature & { all: readonly SignatureTest[] }): CompiledSignature => {
      const tests = s.all.map(testMatcher);
      return { format: s.format, matches: (sector) => tests.every((t) => t(sector)) };
    };
    const bySector = (where: 'head' | 'tail') =>
      sorted.flatMap((s) => ('all' in s && (s.in ?? 'head') === where ? [compile(s)] : []));
    this.head = bySector('head');
    this.tail = bySector('tail');
    this.names = sorted.flatMap((s) => ('name' in s ? [{ format: s.format, pattern: new RegExp(s.name) }] : []));
  }

  /** The format whose signature the first sector of an image carries, if any. */
  formatOfFirstSector(sector: Uint8Array): string | undefined {
    return this.head.find((s) => s.matches(sector))?.format;
  }

  /** The format whose trailer the last sector of an image carries, if any. */
  formatOfLastSector(sector: Uint8Array): string | undefined {
    return this.tail.find((s) => s.matches(sector))?.format;
  }

  /** The format a file name says (qemu takes any `.dmg` as a DMG image), if any. */
  formatOfName(filename: string): string | undefined {
    return this.names.find((n) => n.pattern.test(filename))?.format;
  }
}
