import type { BlockOptionSpec } from '@tessera/core';
import { ENCRYPT_OPEN_OPTIONS } from './encryption/options.ts';

const OVERLAP_AREAS = [
  ['main-header', 'the main qcow2 header'],
  ['active-l1', 'the active L1 table'],
  ['active-l2', 'an active L2 table'],
  ['refcount-table', 'the refcount table'],
  ['refcount-block', 'a refcount block'],
  ['snapshot-table', 'the snapshot table'],
  ['inactive-l1', 'an inactive L1 table'],
  ['inactive-l2', 'an inactive L2 table'],
  ['bitmap-directory', 'the bitmap directory'],
] as const;

/**
 * qcow2's open options as qemu 7.2 takes them (`--image-opts driver=qcow2,l2-cache-size=…`).
 * They tune qemu's caches, discard passing and overlap checks: accepted and checked here so that
 * command lines written for qemu-img work; none changes what the image reads as. This driver
 * always checks metadata overlaps and writes refcounts eagerly, which is what the safest values
 * of these options ask for. (`data-file` is not taken yet.) `encrypt.format` and
 * `encrypt.key-secret` open an encrypted image (encryption/).
 */
export const OPEN_OPTIONS: readonly BlockOptionSpec[] = [
  ...ENCRYPT_OPEN_OPTIONS,
  { name: 'lazy-refcounts', type: 'bool', description: 'Postpone refcount updates' },
  { name: 'pass-discard-request', type: 'bool', description: 'Pass guest discard requests to the layer below' },
  { name: 'pass-discard-snapshot', type: 'bool', description: 'Generate discard requests when snapshot related space is freed' },
  { name: 'pass-discard-other', type: 'bool', description: 'Generate discard requests when other clusters are freed' },
  { name: 'overlap-check', type: 'str', description: 'Selects which overlap checks to perform from a range of templates (none, constant, cached, all)' },
  { name: 'overlap-check.template', type: 'str', description: 'Selects which overlap checks to perform from a range of templates (none, constant, cached, all)' },
  ...OVERLAP_AREAS.map(([area, what]): BlockOptionSpec => ({ name: `overlap-check.${area}`, type: 'bool', description: `Check for unintended writes into ${what}` })),
  { name: 'cache-size', type: 'size', description: 'Maximum combined metadata (L2 tables and refcount blocks) cache size' },
  { name: 'l2-cache-size', type: 'size', description: 'Maximum L2 table cache size' },
  { name: 'l2-cache-entry-size', type: 'size', description: 'Size of each entry in the L2 cache' },
  { name: 'refcount-cache-size', type: 'size', description: 'Maximum refcount block cache size' },
  { name: 'cache-clean-interval', type: 'num', description: 'Clean unused cache entries after this time (in seconds)' },
];
