import { BlockError } from './errors.ts';
import { protocolOf } from './location.ts';

/** The environment variable that lets remote images name local backing and data files. */
export const ALLOW_LOCAL_BACKING_OF_REMOTE = 'TESSERA_ALLOW_LOCAL_BACKING_OF_REMOTE';

/**
 * Beyond qemu: an image fetched from a server (http, https) must not make this program open a
 * local file (its backing file or data file named by an absolute path), or whoever serves the
 * image chooses which host file the guest, or a converted image, gets to read. Relative names
 * resolve against the image's URL and stay remote. `allowed` is the user's explicit consent.
 */
export function checkRemoteReference(parent: string, name: string, resolved: string, role: 'backing' | 'data', allowed: boolean): void {
  if (allowed || protocolOf(parent) === 'file' || protocolOf(resolved) !== 'file') return;
  throw new BlockError(
    `the remote image '${parent}' names the local file '${name}' as its ${role} file, which is refused ` +
      `(a server must not choose which local file is read); to allow it, set ${ALLOW_LOCAL_BACKING_OF_REMOTE}=1 in the environment`,
    { code: 'local-backing-of-remote' },
  );
}
