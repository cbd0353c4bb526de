import { corrupt } from '../errors.ts';
import type { FeatureName } from './features.ts';
import { FEATURE_NAME_ENTRY, HEADER_EXTENSION } from '../layout.ts';

const { end: END, backingFormat: BACKING_FORMAT, featureNames: FEATURE_NAMES, dataFile: EXTERNAL_DATA_FILE, encryption: ENCRYPTION, bitmaps: BITMAPS } = HEADER_EXTENSION;

export interface HeaderExtensions {
  readonly backingFormat?: string;
  readonly dataFile?: string;
  readonly featureNames: readonly FeatureName[];
  readonly hasEncryptionHeader: boolean;
  /** The full disk encryption header pointer's fields, unchecked (encryption/header-extension.ts checks them). */
  readonly encryption?: EncryptionExtensionFields;
  readonly hasBitmaps: boolean;
  /** The bitmaps extension's fields, unchecked (bitmaps/extension.ts checks them as QEMU does). */
  readonly bitmaps?: BitmapsExtensionFields;
}

export interface BitmapsExtensionFields {
  /** The extension's data length (24 when valid). */
  readonly length: number;
  readonly count: number;
  readonly reserved: number;
  readonly directorySize: bigint;
  readonly directoryOffset: bigint;
}

export interface EncryptionExtensionFields {
  /** The extension's data length (16 when valid). */
  readonly length: number;
  readonly offset: bigint;
  readonly size: bigint;
}

const TYPES = ['incompatible', 'compatible', 'autoclear'] as const;

/**
 * Header extensions: `type, length, data` records (data padded to 8 bytes) from `start` up to the
 * end marker, all inside the first cluster (`head`).
 */
export function parseExtensions(head: Uint8Array, start: number, filename: string): HeaderExtensions {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const text = (from: number, length: number) => new TextDecoder().decode(head.subarray(from, from + length));
  const result: { backingFormat?: string; dataFile?: string; featureNames: FeatureName[]; hasEncryptionHeader: boolean; hasBitmaps: boolean; bitmaps?: BitmapsExtensionFields; encryption?: EncryptionExtensionFields } = {
    featureNames: [],
    hasEncryptionHeader: false,
    hasBitmaps: false,
  };
  let offset = start;
  for (;;) {
    if (offset + 8 > head.length) throw corrupt(filename, 'header extensions run past the first cluster');
    const type = view.getUint32(offset);
    const length = view.getUint32(offset + 4);
    if (type === END) break;
    const data = offset + 8;
    if (data + length > head.length) throw corrupt(filename, `header extension 0x${type.toString(16)} is longer than the first cluster`);
    switch (type) {
      case BACKING_FORMAT:
        result.backingFormat = text(data, length);
        break;
      case EXTERNAL_DATA_FILE:
        result.dataFile = text(data, length);
        break;
      case FEATURE_NAMES:
        for (let e = data; e + FEATURE_NAME_ENTRY <= data + length; e += FEATURE_NAME_ENTRY) {
          const kind = TYPES[head[e]!];
          const name = text(e + 2, 46).replace(/\0.*$/s, '');
          if (kind) result.featureNames.push({ type: kind, bit: head[e + 1]!, name });
        }
        break;
      case ENCRYPTION:
        result.hasEncryptionHeader = true;
        result.encryption = {
          length,
          offset: length >= 8 ? view.getBigUint64(data) : 0n,
          size: length >= 16 ? view.getBigUint64(data + 8) : 0n,
        };
        break;
      case BITMAPS:
        result.hasBitmaps = true;
        result.bitmaps = {
          length,
          count: length >= 4 ? view.getUint32(data) : 0,
          reserved: length >= 8 ? view.getUint32(data + 4) : 0,
          directorySize: length >= 16 ? view.getBigUint64(data + 8) : 0n,
          directoryOffset: length >= 24 ? view.getBigUint64(data + 16) : 0n,
        };
        break;
      default:
        break; // unknown extensions are skipped, as the spec requires
    }
    offset = data + Math.ceil(length / 8) * 8;
  }
  return result;
}
