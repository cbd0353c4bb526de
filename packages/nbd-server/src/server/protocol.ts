// The NBD protocol's numbers, shared with the client (block-nbd): imported from its source by
// path, so both ends are built from one table and the client's package gains no export.
export * from '../../../modules/block-nbd/src/constants.ts';

/** The errno values the protocol carries in replies (NBD_EPERM, …). */
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

/** The largest READ or WRITE payload accepted, as qemu-nbd's (NBD_MAX_BUFFER_SIZE); also the block size's maximum. */
export const MAX_PAYLOAD = 32 * 1024 * 1024;
/** Block sizes advertised (NBD_INFO_BLOCK_SIZE), as qemu-nbd's: any alignment works, 4 KiB preferred. */
export const BLOCK_SIZE_MIN = 1;
export const BLOCK_SIZE_PREFERRED = 4096;
/** Largest option payload read; longer ones are refused (NBD_REP_ERR_TOO_BIG) without keeping them. */
export const MAX_OPTION_LENGTH = 64 * 1024;
