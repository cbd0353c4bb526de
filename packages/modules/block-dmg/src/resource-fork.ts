import type { BlockNode } from '@tessera/core';
import { mishChunks, type Chunk } from './chunks.ts';
import type { Koly } from './koly.ts';
import { parsePlist, PlistError, type PlistDict, type PlistValue } from './plist.ts';
import { codedError } from '@tessera/module-kit/coded-error';

/** qemu's bound on the XML property list (a real one is about 1 MiB); the binary fork gets the same. */
const MAX_METADATA = 16 * 1024 * 1024;

function corrupt(filename: string, what: string, cause?: unknown): Error {
  return codedError(`Could not open '${filename}': ${what}`, 'corrupt-image', { cause });
}

/** The image's chunk table: from the binary resource fork when there is one, else from the XML property list (as qemu). */
export async function readChunks(file: BlockNode, koly: Koly): Promise<Chunk[]> {
  const name = file.filename;
  let chunks: Chunk[];
  if (koly.resourceForkLength !== 0) chunks = await fromResourceFork(file, koly);
  else if (koly.xmlLength !== 0) chunks = await fromXml(file, koly);
  else throw corrupt(name, 'the image has neither a resource fork nor an XML property list');
  return chunks.sort((a, b) => a.firstSector - b.firstSector);
}

/** The binary resource fork: the data's offset and length, then resources, each a 32-bit length and its bytes. */
async function fromResourceFork(file: BlockNode, koly: Koly): Promise<Chunk[]> {
  const name = file.filename;
  const length = koly.resourceForkLength;
  if (length > MAX_METADATA) throw corrupt(name, `the resource fork (${length} bytes) is larger than ${MAX_METADATA} bytes`);
  if (length < 12) throw corrupt(name, 'the resource fork is too short');
  const fork = new Uint8Array(length);
  await file.read(koly.resourceForkOffset, fork);
  const view = new DataView(fork.buffer);
  const dataOffset = view.getUint32(0);
  const count = view.getUint32(8);
  if (dataOffset > length || count === 0 || dataOffset + count > length) throw corrupt(name, 'the resource fork header is invalid');
  const chunks: Chunk[] = [];
  for (let at = dataOffset, end = dataOffset + count; at < end; ) {
    if (at + 4 > end) throw corrupt(name, 'a resource of the resource fork is cut short');
    const size = view.getUint32(at);
    at += 4;
    if (size === 0 || size > end - at) throw corrupt(name, 'a resource of the resource fork has an invalid size');
    for (const chunk of mishChunks(fork.subarray(at, at + size), koly.dataForkOffset, name)) chunks.push(chunk);
    at += size;
  }
  return chunks;
}

/** The XML property list: resource-fork → blkx → each entry's Data is a mish block. */
async function fromXml(file: BlockNode, koly: Koly): Promise<Chunk[]> {
  const name = file.filename;
  if (koly.xmlLength > MAX_METADATA) throw corrupt(name, `the XML property list (${koly.xmlLength} bytes) is larger than ${MAX_METADATA} bytes`);
  const xml = new Uint8Array(koly.xmlLength);
  await file.read(koly.xmlOffset, xml);
  let plist: PlistValue;
  try {
    plist = parsePlist(xml);
  } catch (error) {
    if (error instanceof PlistError) throw corrupt(name, `the XML property list is invalid: ${error.message}`, error);
    throw error;
  }
  const dict = (value: PlistValue | undefined): PlistDict | undefined =>
    typeof value === 'object' && !(value instanceof Uint8Array) && !Array.isArray(value) ? (value as PlistDict) : undefined;
  const blkx = dict(dict(plist)?.['resource-fork'])?.['blkx'];
  if (!Array.isArray(blkx)) throw corrupt(name, 'the XML property list has no resource-fork/blkx array');
  const chunks: Chunk[] = [];
  for (const entry of blkx as readonly PlistValue[]) {
    const data = dict(entry)?.['Data'];
    // One by one: a table of many chunks would overflow the arguments of a spread push.
    if (data instanceof Uint8Array) for (const chunk of mishChunks(data, koly.dataForkOffset, name)) chunks.push(chunk);
  }
  return chunks;
}
