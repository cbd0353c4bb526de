// Which image locks each open takes: QEMU's permission rules (block.c's default child
// permissions), so tessera and QEMU holding the same images refuse each other as QEMU refuses
// itself. The file protocol turns the result into lock bytes.
import type { BlockPermission, BlockPermissions } from './types.ts';

const READ: BlockPermission = 'consistent read';

/** What a command opening an image asks for when it says nothing: read (and write), forbidding nothing. */
export function defaultPermissions(readOnly: boolean): BlockPermissions {
  return { use: readOnly ? [READ] : [READ, 'write'], unshare: [] };
}

/**
 * The permissions on a format's storage, given those its user asked for. raw passes them through;
 * a format with metadata (qcow2, …) reads its metadata (unless nothing is read at all, as for
 * `info`), writes and grows its file when writable, and lets no one else write or resize it.
 */
export function storagePermissions(user: BlockPermissions, format: string, readOnly: boolean): BlockPermissions {
  if (format === 'raw') return user;
  return {
    use: union(user.use.length > 0 ? [READ] : [], user.use, readOnly ? [] : ['write', 'resize']),
    unshare: union(user.unshare, ['write', 'resize']),
  };
}

/** A backing file's user: it is only read, and changed by no one only if its overlay's user forbids writes. */
export function backingPermissions(overlayUser: BlockPermissions): BlockPermissions {
  return {
    use: overlayUser.use.filter((p) => p === READ),
    unshare: overlayUser.unshare.includes('write') ? ['write', 'resize'] : [],
  };
}

/** `-U` (force-share): forbid nothing to anyone. */
export function sharingAll(permissions: BlockPermissions): BlockPermissions {
  return { use: permissions.use, unshare: [] };
}

function union(...lists: ReadonlyArray<readonly BlockPermission[]>): BlockPermission[] {
  return [...new Set(lists.flat())];
}
