import type { BlockNode } from '../types.ts';
import { SIGNATURE_SECTOR, type SignatureTable } from './signature-form.ts';

/**
 * The format of the image stored in `file`, by its content: the first sector's signature, else
 * the last sector's trailer, else a name rule (qemu's `.dmg`), else raw. An empty file is raw (as
 * in qemu). Reads the first sector and, for a file that is raw by it, the last one; matches
 * declared signatures only, so no format module loads to probe.
 */
export async function probeFormat(file: BlockNode, signatures: SignatureTable): Promise<string> {
  if (file.size === 0) return 'raw';
  const head = new Uint8Array(Math.min(SIGNATURE_SECTOR, file.size));
  await file.read(0, head);
  const byHead = signatures.formatOfFirstSector(head);
  if (byHead !== undefined) return byHead;
  if (file.size > SIGNATURE_SECTOR) {
    const tail = new Uint8Array(SIGNATURE_SECTOR);
    await file.read(file.size - SIGNATURE_SECTOR, tail);
    const byTail = signatures.formatOfLastSector(tail);
    if (byTail !== undefined) return byTail;
  }
  return signatures.formatOfName(file.filename) ?? 'raw';
}
