import { BlockError } from '../errors.ts';
import type { BlockNode, ResizeOptions } from '../types.ts';
import { SIGNATURE_SECTOR, type SignatureTable } from './signature-form.ts';

/**
 * A raw image whose format was guessed (no format named) keeps being guessed raw: a write (or a
 * resize) after which its first sector would carry another format's signature, or its last
 * sector another format's trailer, is refused with EPERM, as qemu's raw driver refuses such
 * writes to sector 0 of a probed image. Otherwise a guest could write a qcow2 header naming a
 * host file as backing file, and the next start would open the disk as qcow2 and show it that
 * file. Naming the format (`-f raw`, `format=raw`) opens the image unguarded, as in qemu.
 */
export function guardProbedRaw(node: BlockNode, signatures: SignatureTable): BlockNode {
  let guarded: Promise<unknown> = Promise.resolve();
  // Checks and writes of the guarded sectors run one at a time: two partial writes that each
  // look harmless against the old sector must not together forge a signature.
  const serialized = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = guarded.then(operation);
    guarded = result.catch(() => undefined);
    return result;
  };

  const write = (offset: number, data: Uint8Array): Promise<void> => {
    const newSize = Math.max(node.size, offset + data.length);
    const touchesHead = offset < SIGNATURE_SECTOR;
    const touchesTail = newSize > SIGNATURE_SECTOR && offset + data.length > newSize - SIGNATURE_SECTOR;
    if (!touchesHead && !touchesTail) return node.write(offset, data);
    return serialized(async () => {
      if (touchesHead) {
        const head = await sectorAfter(node, 0, Math.min(SIGNATURE_SECTOR, newSize), offset, data);
        refuseIf(node, signatures.formatOfFirstSector(head), 'first');
      }
      if (touchesTail) {
        const tail = await sectorAfter(node, newSize - SIGNATURE_SECTOR, newSize, offset, data);
        refuseIf(node, signatures.formatOfLastSector(tail), 'last');
      }
      await node.write(offset, data);
    });
  };

  const innerResize = node.resize?.bind(node);
  const resize =
    innerResize &&
    ((size: number, options: ResizeOptions): Promise<void> =>
      serialized(async () => {
        if (size > SIGNATURE_SECTOR) {
          const tail = await sectorAfter(node, size - SIGNATURE_SECTOR, size, 0, new Uint8Array(0));
          refuseIf(node, signatures.formatOfLastSector(tail), 'last');
        }
        await innerResize(size, options);
      }));

  return new Proxy(node, {
    get(target, property) {
      if (property === 'write') return write;
      if (property === 'resize') return resize;
      if (property === 'probed') return true;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** qemu's warning, word for word, for a probed raw image opened for writing (its raw driver prints it on stderr). */
export function probedRawWarning(location: string): string {
  return (
    `WARNING: Image format was not specified for '${location}' and probing guessed raw.\n` +
    '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n' +
    "         Specify the 'raw' format explicitly to remove the restrictions.\n"
  );
}

/** The bytes [start, end) as they would be after writing `data` at `offset` (zeroes past the end). */
async function sectorAfter(node: BlockNode, start: number, end: number, offset: number, data: Uint8Array): Promise<Uint8Array> {
  const sector = new Uint8Array(end - start);
  const covered = offset <= start && offset + data.length >= end;
  const readable = Math.min(end, node.size) - start;
  if (!covered && readable > 0) await node.read(start, sector.subarray(0, readable));
  const from = Math.max(start, offset);
  const to = Math.min(end, offset + data.length);
  if (from < to) sector.set(data.subarray(from - offset, to - offset), from - start);
  return sector;
}

function refuseIf(node: BlockNode, format: string | undefined, which: 'first' | 'last'): void {
  if (format === undefined) return;
  throw new BlockError(
    `Operation not permitted: the write would make the ${which} sector of '${node.filename}' look like a ${format} image, ` +
      `and its format was not specified but probed as raw (specify the 'raw' format explicitly to allow such writes)`,
    { code: 'EPERM' },
  );
}
