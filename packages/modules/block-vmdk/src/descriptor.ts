/**
 * The text descriptor (VMware Virtual Disk Format 1.1, section 3): a header of `key=value` lines
 * (CID, parentCID, createType, parentFileNameHint), the extent lines, then the disk database
 * (`ddb.key = "value"`). It is a file of its own (flat and split images) or embedded in a sparse
 * extent (monolithicSparse, streamOptimized).
 */
import { corrupt, unsupportedFeature } from './errors.ts';

/** A descriptor file larger than this is refused before being read (qemu: "File too large"). */
export const MAX_DESCRIPTOR_BYTES = 1024 * 1024;
/** Extents beyond this many are refused (each is a file to open; a 2 TiB split image has 1024). */
export const MAX_EXTENTS = 4096;

export type ExtentAccess = 'RW' | 'RDONLY' | 'NOACCESS';
export type ExtentType = 'FLAT' | 'SPARSE' | 'ZERO' | 'VMFS' | 'VMFSSPARSE' | 'VMFSRDM' | 'VMFSRAW' | 'SESPARSE';
const EXTENT_TYPES: readonly string[] = ['FLAT', 'SPARSE', 'ZERO', 'VMFS', 'VMFSSPARSE', 'VMFSRDM', 'VMFSRAW', 'SESPARSE'];

export interface ExtentLine {
  readonly access: ExtentAccess;
  readonly sectors: number;
  readonly type: ExtentType;
  /** The file as the descriptor names it (absent for ZERO). */
  readonly fileName?: string;
  /** Start of the extent in its file, in sectors (flat extents). */
  readonly offset: number;
}

export interface Descriptor {
  readonly cid: number;
  readonly parentCid: number;
  readonly createType: string;
  readonly parentFileNameHint?: string;
  readonly extents: readonly ExtentLine[];
  /** `ddb.*` entries, values unquoted. */
  readonly ddb: ReadonlyMap<string, string>;
}

/** createTypes qemu opens from a descriptor file (with its message for the others). */
export const DESCRIPTOR_FILE_TYPES = ['monolithicFlat', 'vmfs', 'vmfsSparse', 'seSparse', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'];

const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"\r\n]*)"(?:\s+(\d+))?)?\s*$/;
const KEY_VALUE = /^([A-Za-z][\w.]*)\s*=\s*(.*)$/;

/** Parse descriptor text; `where` names the image in messages (qemu's wording where it has one). */
export function parseDescriptor(text: string, where: string): Descriptor {
  if (text.length > MAX_DESCRIPTOR_BYTES) throw corrupt(`Could not open '${where}': File too large`);
  const values = new Map<string, string>();
  const ddb = new Map<string, string>();
  const extents: ExtentLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\0.*$/s, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^(RW|RDONLY|NOACCESS)\s/.test(line)) {
      extents.push(parseExtentLine(line, where));
      if (extents.length > MAX_EXTENTS) throw unsupportedFeature(`Could not open '${where}': more than ${MAX_EXTENTS} extents`);
      continue;
    }
    const pair = KEY_VALUE.exec(line);
    if (!pair) continue; // VMware ignores lines it does not know; so do we
    const value = unquote(pair[2]!.trim());
    if (pair[1]!.startsWith('ddb.')) ddb.set(pair[1]!.slice(4), value);
    else values.set(pair[1]!, value);
  }
  const createType = values.get('createType');
  if (createType === undefined) throw corrupt(`Could not open '${where}': invalid VMDK image descriptor`);
  return {
    cid: parseCid(values.get('CID'), 'CID', where),
    parentCid: parseCid(values.get('parentCID'), 'parentCID', where),
    createType,
    ...(values.has('parentFileNameHint') ? { parentFileNameHint: values.get('parentFileNameHint')! } : {}),
    extents,
    ddb,
  };
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** CIDs are 32-bit hexadecimal; absent means ffffffff ("no parent") as qemu reads it. */
function parseCid(value: string | undefined, key: string, where: string): number {
  if (value === undefined) return 0xffffffff;
  if (!/^[0-9a-fA-F]{1,8}$/.test(value)) throw corrupt(`Could not open '${where}': invalid ${key} '${value}' in the VMDK descriptor (8 hexadecimal digits expected)`);
  return parseInt(value, 16);
}

function parseExtentLine(line: string, where: string): ExtentLine {
  const match = EXTENT_LINE.exec(line);
  const invalid = () => corrupt(`Could not open '${where}': Invalid extent line: ${line}`);
  if (!match) throw invalid();
  const [, access, count, type, fileName, offset] = match;
  if (!EXTENT_TYPES.includes(type!)) throw invalid();
  const sectors = Number(count);
  if (!Number.isSafeInteger(sectors) || sectors <= 0 || sectors > Number.MAX_SAFE_INTEGER / 512) throw invalid();
  if (type !== 'ZERO' && fileName === undefined) throw invalid();
  // A FLAT extent says where in its file it starts (qemu insists); VMFS and the sparse extents
  // start at the file's start and name no offset (qemu refuses the line that does).
  if ((type === 'FLAT') !== (offset !== undefined) && !['ZERO', 'VMFSRDM', 'VMFSRAW'].includes(type!)) throw invalid();
  const start = offset === undefined ? 0 : Number(offset);
  if (!Number.isSafeInteger(start) || start > Number.MAX_SAFE_INTEGER / 512) throw invalid();
  return {
    access: access as ExtentAccess,
    sectors,
    type: type as ExtentType,
    ...(fileName !== undefined ? { fileName } : {}),
    offset: start,
  };
}

export interface DescriptorFields {
  readonly cid: number;
  readonly parentCid: number;
  readonly createType: string;
  readonly parentFileNameHint?: string;
  readonly extents: readonly ExtentLine[];
  readonly ddb: readonly (readonly [string, string])[];
}

// qemu prints CIDs with %x, unpadded: a CID below 0x10000000 has fewer than eight digits.
const cidText = (value: number) => value.toString(16);

/** The descriptor text as qemu writes it (same lines, order and blank lines). */
export function formatDescriptor(fields: DescriptorFields): string {
  const extentLines = fields.extents.map((extent) => {
    const name = extent.type === 'ZERO' ? '' : ` "${extent.fileName}"`;
    const offset = extent.type === 'FLAT' ? ` ${extent.offset}` : '';
    return `${extent.access} ${extent.sectors} ${extent.type}${name}${offset}`;
  });
  return [
    '# Disk DescriptorFile',
    'version=1',
    `CID=${cidText(fields.cid)}`,
    `parentCID=${cidText(fields.parentCid)}`,
    `createType="${fields.createType}"`,
    // qemu's line break: the hint takes the place of the blank line.
    ...(fields.parentFileNameHint !== undefined ? [`parentFileNameHint="${fields.parentFileNameHint}"`] : ['']),
    '# Extent description',
    ...extentLines,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    ...fields.ddb.map(([key, value]) => `ddb.${key} = "${value}"`),
    '',
  ].join('\n');
}
