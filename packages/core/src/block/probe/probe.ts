import type { BlockNode } from '../types.ts';
import { SIGNATURE_SECTOR, formatOfFirstSector, formatOfLastSector, formatOfName } from './signatures.ts';

/**
 * The format of the image stored in `file`, by its content: the first sector's signature, else
 * the last sector's trailer, else qemu's `.dmg` name rule, else raw. An empty file is raw (as in
 * qemu). Reads the first sector and, for a file that is raw by it, the last one.
 */
export async function probeFormat(file: BlockNode): Promise<string> {
  if (file.size === 0) return 'raw';
  const head = new Uint8Array(Math.min(SIGNATURE_SECTOR, file.size));
  await file.read(0, head);
  const byHead = formatOfFirstSector(head);
  if (byHead !== undefined) return byHead;
  if (file.size > SIGNATURE_SECTOR) {
    const tail = new Uint8Array(SIGNATURE_SECTOR);
    await file.read(file.size - SIGNATURE_SECTOR, tail);
    const byTail = formatOfLastSector(tail);
    if (byTail !== undefined) return byTail;
  }
  return formatOfName(file.filename) ?? 'raw';
}
