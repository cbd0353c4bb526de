// Recording another backing file (qemu-img rebase): the backing file name and the backing-format
// header extension are rewritten in the first cluster; every other header field and extension is
// kept as it is. The header, its extensions and the name must fit in the first cluster.
import { parseHeader } from './header/header.ts';
import type { Qcow2State } from './state.ts';
import { MAX_BACKING_NAME } from './limits.ts';
import { HEADER } from './overlap/structures.ts';
import { HEADER_EXTENSION, HEADER_FIELD } from './layout.ts';

const END = HEADER_EXTENSION.end;
const BACKING_FORMAT = HEADER_EXTENSION.backingFormat;

/** An extension as stored: its type and unpadded data. */
interface RawExtension {
  readonly type: number;
  readonly data: Uint8Array;
}

/**
 * Point the image at `file` in `format` (either may be absent), or at no backing file at all when
 * `file` is undefined. The node's open backing image is not changed; `image.header` is replaced.
 */
export async function setBackingFile(image: Qcow2State, file: string | undefined, format: string | undefined): Promise<void> {
  if (image.readOnly) throw new Error(`${image.filename}: the image is opened read-only`);
  const encoder = new TextEncoder();
  const name = file === undefined || file === '' ? undefined : encoder.encode(file);
  if (name && name.length > MAX_BACKING_NAME) throw new Error('Invalid argument');
  await image.lock.write(async () => {
    const h = image.header;
    const cluster = new Uint8Array(h.clusterSize);
    await image.child.read(0, cluster.subarray(0, Math.min(cluster.length, image.child.size)));
    const kept = readExtensions(cluster, h.headerLength).filter((extension) => extension.type !== BACKING_FORMAT);
    const extensions = name && format !== undefined ? [{ type: BACKING_FORMAT, data: encoder.encode(format) }, ...kept] : kept;

    const out = new Uint8Array(h.clusterSize);
    out.set(cluster.subarray(0, h.headerLength));
    const view = new DataView(out.buffer);
    let at = h.headerLength;
    const room = (bytes: number) => {
      if (at + bytes > out.length) throw new Error('No space left in the file header');
    };
    for (const { type, data } of extensions) {
      const padded = Math.ceil(data.length / 8) * 8;
      room(8 + padded);
      view.setUint32(at, type);
      view.setUint32(at + 4, data.length);
      out.set(data, at + 8);
      at += 8 + padded;
    }
    room(8);
    view.setUint32(at, END); // the end marker: type and length 0
    at += 8;
    if (name) {
      room(name.length);
      out.set(name, at);
      view.setBigUint64(HEADER_FIELD.backingFileOffset, BigInt(at));
      view.setUint32(HEADER_FIELD.backingFileSize, name.length);
      at += name.length;
    } else {
      view.setBigUint64(HEADER_FIELD.backingFileOffset, 0n);
      view.setUint32(HEADER_FIELD.backingFileSize, 0);
    }
    // Parsed before anything is written: what is written must read back as a valid header.
    const header = parseHeader(out, image.child.size, image.filename);
    await image.overlap.write(0, out.subarray(0, Math.max(at, usedLength(cluster, h.headerLength, h.backingFileOffset + h.backingFileSize))), HEADER);
    await image.child.flush();
    image.header = header;
  });
}

/** The extensions after the header, up to the end marker (already validated when the image was opened). */
function readExtensions(cluster: Uint8Array, start: number): RawExtension[] {
  const view = new DataView(cluster.buffer, cluster.byteOffset, cluster.byteLength);
  const extensions: RawExtension[] = [];
  for (let at = start; at + 8 <= cluster.length; ) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === END) break;
    extensions.push({ type, data: cluster.slice(at + 8, at + 8 + length) });
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return extensions;
}

/** Bytes of the old first cluster in use (so a shorter new header overwrites the old name's tail). */
function usedLength(cluster: Uint8Array, start: number, nameEnd: number): number {
  const view = new DataView(cluster.buffer, cluster.byteOffset, cluster.byteLength);
  let at = start;
  while (at + 8 <= cluster.length) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    at += 8;
    if (type === END) break;
    at += Math.ceil(length / 8) * 8;
  }
  return Math.min(cluster.length, Math.max(at, nameEnd));
}
