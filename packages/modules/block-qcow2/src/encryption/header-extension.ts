// The header's crypt_method and the full disk encryption header pointer (extension 0x0537be77):
// where a LUKS image keeps its LUKS header (offset and length, in clusters of its own).
import { codedError, corrupt } from '../errors.ts';
import type { HeaderExtensions } from '../header/extensions.ts';

export const CRYPT_NONE = 0;
/** Legacy AES-CBC, the key from the passphrase itself; IVs from the guest sector. */
export const CRYPT_AES = 1;
/** LUKS: a LUKS1 header in the image's clusters; IVs from the host sector. */
export const CRYPT_LUKS = 2;

/** qemu's `encrypt.format` name of a crypt method. */
export const cryptFormatName = (method: number): 'aes' | 'luks' => (method === CRYPT_AES ? 'aes' : 'luks');

/** The extension's data: offset and length, 8 bytes each. */
export const EXTENSION_BYTES = 16;
/** A LUKS1 header with the largest key material (8 slots of 1024-byte keys × 4000 stripes) fits. */
const MAX_HEADER_BYTES = 64 * 2 ** 20;
const LUKS_HEADER_BYTES = 592;

/** The method and the extension agree, as qemu requires (its messages). */
export function checkCryptMethod(method: number, extensions: HeaderExtensions, filename: string): void {
  if (method > CRYPT_LUKS) throw codedError(`Could not open '${filename}': Unsupported encryption method ${method}`, 'unsupported-feature');
  // qemu's words, which say no more than this.
  const bad = (what: string) => codedError(`Could not open '${filename}': ${what}`, 'corrupt-image');
  const extension = extensions.encryption;
  if (extension && method !== CRYPT_LUKS) throw bad('CRYPTO header extension only expected with LUKS encryption method');
  if (extension && extension.length !== EXTENSION_BYTES) throw bad(`CRYPTO header extension size ${extension.length}, but expected size ${EXTENSION_BYTES}`);
  if (method === CRYPT_LUKS && !extension) throw bad(`Missing CRYPTO header for crypt method ${method}`);
}

export interface EncryptionHeaderPlace {
  readonly offset: number;
  readonly length: number;
}

/** Where the LUKS header lies, every field checked against the file (untrusted). */
export function encryptionHeaderPlace(extensions: HeaderExtensions, clusterSize: number, fileSize: number, filename: string): EncryptionHeaderPlace {
  const extension = extensions.encryption!;
  const { offset, size } = extension;
  const bad = (what: string) => codedError(`Could not open '${filename}': ${what}`, 'corrupt-image');
  if (offset % BigInt(clusterSize) !== 0n) throw bad(`Encryption header offset '${offset}' is not a multiple of cluster size '${clusterSize}'`);
  if (offset === 0n) throw corrupt(filename, 'the encryption header lies on the qcow2 header');
  // qemu's words when the LUKS header is read beyond the length.
  if (size < BigInt(LUKS_HEADER_BYTES)) throw bad('Request for data outside of extension header');
  if (size > BigInt(MAX_HEADER_BYTES)) {
    throw corrupt(filename, `encryption header length ${size} is impossible (a LUKS header takes ${LUKS_HEADER_BYTES} to ${MAX_HEADER_BYTES} bytes)`);
  }
  if (offset + size > BigInt(fileSize)) throw corrupt(filename, `the encryption header (offset ${offset}, ${size} bytes) lies beyond the end of the file`);
  return { offset: Number(offset), length: Number(size) };
}

export function encodeExtension(place: EncryptionHeaderPlace): Uint8Array {
  const bytes = new Uint8Array(EXTENSION_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(place.offset));
  view.setBigUint64(8, BigInt(place.length));
  return bytes;
}
