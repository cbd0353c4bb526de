// qcow2's options as its driver declares them to the block layer: create's in the order
// qemu-img's "Formatting …" line prints them (the defaults it prints marked), amend's the subset
// qemu's qcow2 can change in place plus the encryption keys it takes there.
import { luksAmendOptions } from '@tessera/module-kit/crypto/luks-amend-options';
import type { BlockOptionSpec } from '@tessera/core';
import { ENCRYPT_CREATE_OPTIONS } from './encryption/options.ts';

const SIZE: BlockOptionSpec = { name: 'size', type: 'size', description: 'Virtual disk size' };
const COMPAT: BlockOptionSpec = { name: 'compat', type: 'str', description: 'Compatibility level (v2 [0.10] or v3 [1.1])' };
const BACKING_FILE: BlockOptionSpec = { name: 'backing_file', type: 'str', description: 'File name of a base image' };
const BACKING_FMT: BlockOptionSpec = { name: 'backing_fmt', type: 'str', description: 'Image format of the base image' };
const DATA_FILE: BlockOptionSpec = { name: 'data_file', type: 'str', description: 'File name of an external data file' };
const DATA_FILE_RAW: BlockOptionSpec = {
  name: 'data_file_raw',
  type: 'bool',
  description: 'The external data file must stay valid as a raw image',
  default: false,
};
const LAZY_REFCOUNTS: BlockOptionSpec = {
  name: 'lazy_refcounts',
  type: 'bool',
  description: 'Postpone refcount updates',
  default: false,
  printDefault: true,
};
const REFCOUNT_BITS: BlockOptionSpec = {
  name: 'refcount_bits',
  type: 'num',
  description: 'Width of a reference count entry in bits',
  default: 16,
  printDefault: true,
};

export const CREATE_OPTIONS: readonly BlockOptionSpec[] = [
  ...ENCRYPT_CREATE_OPTIONS,
  { name: 'cluster_size', type: 'size', description: 'qcow2 cluster size', default: 65536, printDefault: true },
  { name: 'extended_l2', type: 'bool', description: 'Extended L2 tables', default: false, printDefault: true },
  { name: 'preallocation', type: 'str', description: 'Preallocation mode (allowed values: off, metadata, falloc, full)', default: 'off' },
  {
    name: 'compression_type',
    type: 'str',
    description: 'Compression method used for image cluster compression',
    default: 'zlib',
    printDefault: true,
  },
  SIZE,
  COMPAT,
  BACKING_FILE,
  BACKING_FMT,
  DATA_FILE,
  DATA_FILE_RAW,
  LAZY_REFCOUNTS,
  REFCOUNT_BITS,
];

/** Keys of an encrypted image's key slots: accepted by amend (as qemu's), refused on an image without encryption. */
export const ENCRYPTION_AMEND_OPTIONS: readonly BlockOptionSpec[] = luksAmendOptions('encrypt.');

export const AMEND_OPTIONS: readonly BlockOptionSpec[] = [
  SIZE,
  COMPAT,
  BACKING_FILE,
  BACKING_FMT,
  DATA_FILE,
  DATA_FILE_RAW,
  LAZY_REFCOUNTS,
  REFCOUNT_BITS,
  ...ENCRYPTION_AMEND_OPTIONS,
];
