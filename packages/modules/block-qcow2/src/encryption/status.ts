import type { BlockStatus } from '@tessera/core';

/** A status without its host offset and file: qemu reports none for encrypted clusters (map then says so). */
export function withoutHostPlace({ offset: _offset, file: _file, ...status }: BlockStatus): BlockStatus {
  return status;
}
