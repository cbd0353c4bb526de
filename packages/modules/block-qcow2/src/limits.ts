// Bounds on what an untrusted image may ask for, in the spirit of QEMU's own limits.
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
/** QEMU's QCOW_MAX_L1_SIZE: 32 MiB of L1 table. */
export const MAX_L1_BYTES = 32 * 2 ** 20;
/** QEMU's QCOW_MAX_REFTABLE_SIZE: 8 MiB of refcount table. */
export const MAX_REFCOUNT_TABLE_BYTES = 8 * 2 ** 20;
/** Backing file names are at most 1023 bytes in QEMU. */
export const MAX_BACKING_NAME = 1023;
/** Header extensions must fit in the first cluster. */
export const MAX_SNAPSHOTS = 65536;
/** Largest virtual size (QEMU: 2^55 - 1 bytes with 2 MiB clusters); we also need exact doubles. */
export const MAX_VIRTUAL_SIZE = 2 ** 53;
/** Memory for cached L2 tables per image. */
export const L2_CACHE_BYTES = 16 * 2 ** 20;
/** How deep a backing chain may go before we call it a loop. */
export const MAX_BACKING_DEPTH = 64;
