// The structures metadata writes rewrite in place, as the overlap guard is told of them: each is
// allowed to touch its own clusters and no other metadata.
import type { Qcow2Header } from '../header/header.ts';
import type { MetadataStructure } from './guard.ts';

/** Header fields (in the first cluster). */
export const HEADER: MetadataStructure = { kind: 'qcow2_header', offset: 0, length: 1 };

/** The active L1 table as the header places it (`entries`: when it grows in place, its new size). */
export function activeL1(header: Qcow2Header, entries = header.l1Size): MetadataStructure {
  return { kind: 'active L1 table', offset: header.l1TableOffset, length: entries * 8 };
}

/** The L2 table at `offset` (reached from the active L1 table, or with `inactive` only from a snapshot's). */
export function l2Table(header: Qcow2Header, offset: number, inactive = false): MetadataStructure {
  return { kind: inactive ? 'inactive L2 table' : 'active L2 table', offset, length: header.clusterSize };
}
