// Floppy drives: `-fda FILE`, `-fdb FILE`, `-drive if=floppy,…` (v86's floppy controller, drives A: and B:).
import type { DriveConfig } from '../../machine/config.ts';
import { parseOnOff } from '../key-value.ts';

function taken(drives: readonly DriveConfig[], index: number): boolean {
  return drives.some((d) => d.interface === 'floppy' && d.index === index);
}

function exists(index: number): string {
  return `drive with bus=0, unit=${index} (index=${index}) exists`;
}

/** `-fda FILE` / `-fdb FILE`. */
export function parseFloppyShorthand(file: string, index: number, drives: readonly DriveConfig[]): DriveConfig {
  if (taken(drives, index)) throw new Error(exists(index));
  const origin = `${index === 0 ? '-fda' : '-fdb'} ${file}`;
  return { file, media: 'disk', interface: 'floppy', index, readOnly: false, snapshot: false, fileOptions: {}, origin };
}

/** The rest of `-drive if=floppy,…` once the common keys are known to be valid. */
export function floppyDrive(kv: ReadonlyMap<string, string>, argument: string, drives: readonly DriveConfig[]): DriveConfig {
  const file = kv.get('file')!;
  const media = kv.get('media') ?? 'disk';
  if (media !== 'disk') throw new Error(`'${media}' invalid media for a floppy drive (use media=disk)`);
  const indexText = kv.get('index') ?? kv.get('unit');
  let index = indexText === undefined ? 0 : Number(indexText);
  if (indexText === undefined) while (taken(drives, index)) index++;
  if (!Number.isInteger(index) || index < 0 || index > 1) throw new Error(`index ${indexText ?? index} is out of range (0-1 for a floppy: A: and B:)`);
  if (taken(drives, index)) throw new Error(exists(index));
  const readOnlyText = kv.get('readonly') ?? kv.get('read-only');
  const fileOptions: Record<string, string> = {};
  for (const [key, value] of kv) if (key.startsWith('file.')) fileOptions[key.slice(5)] = value;
  const format = kv.get('format');
  return {
    file,
    ...(format ? { format } : {}),
    media: 'disk',
    interface: 'floppy',
    index,
    readOnly: readOnlyText === undefined ? false : parseOnOff(readOnlyText, 'read-only'),
    snapshot: parseOnOff(kv.get('snapshot') ?? 'off', 'snapshot'),
    fileOptions,
    origin: `-drive ${argument}`,
  };
}
