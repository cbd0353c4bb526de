// Where koffi's addon is written out to be loaded (a shared object loads only from a file), and
// how a copy is trusted. Writing it out costs ~30 ms a start (brotli, write, read back, compare,
// remove: more than a tenth of `info rbd:…`), so a copy is kept between runs, in a directory of
// this user's that nobody else can write to or replace, `<tmpdir>/tessera-<uid>`, and its bytes
// are checked against the compiled-in sha256 and size before every load. A kept copy that fails
// the check is written again; where no such directory can be had, the bytes go to a private
// directory made for this run and removed once loaded, as before. What runs is always what the
// verified module carries: nobody but this user (who could change the process anyway) can change
// the file between its check and its load.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
// Compressed (0.2 MB instead of 1.1): every start parses and hashes the module's text.
import addonBrotliBase64 from '@koromix/koffi-linux-x64/linux_x64/koffi.node?brotli-bytes';
import addonDigest from '@koromix/koffi-linux-x64/linux_x64/koffi.node?digest';
import { rbdError } from '../errors.ts';

export interface AddonFile {
  /** The file to load: its bytes are the compiled-in addon's, checked just now. */
  readonly path: string;
  /** A kept copy checked again, a kept copy written now, or a private copy of this run. */
  readonly kind: 'kept' | 'written' | 'private';
  /** To call once it is loaded: removes a private copy. */
  done(): void;
}

/** The addon as a file under `root` (the temporary directory), ready to load. */
export function addonFile(root: string): AddonFile {
  const dir = keptDirectory(root);
  if (dir) {
    const path = join(dir, `koffi-${addonDigest.sha256}.node`);
    if (holdsAddon(path)) return { path, kind: 'kept', done: () => {} };
    if (writeKept(dir, path)) return { path, kind: 'written', done: () => {} };
  }
  return privateCopy(root);
}

/**
 * `<root>/tessera-<uid>`, made if missing; undefined unless it is this user's directory that only
 * this user can write to, in a parent of this user's or root's where nobody else can rename it
 * (not writable by others, or sticky as /tmp is).
 */
function keptDirectory(root: string): string | undefined {
  const uid = process.geteuid?.();
  if (uid === undefined) return undefined;
  const dir = join(root, `tessera-${uid}`);
  try {
    const parent = statSync(root);
    const othersMayRename = (parent.mode & 0o022) !== 0 && (parent.mode & 0o1000) === 0; // 0o1000: sticky (S_ISVTX)
    if ((parent.uid !== uid && parent.uid !== 0) || othersMayRename) return undefined;
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
    }
    const stats = lstatSync(dir);
    return stats.isDirectory() && stats.uid === uid && (stats.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `path` is a regular file of this user's, written by nobody else, holding exactly the addon. */
function holdsAddon(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.uid !== process.geteuid!() || (stats.mode & 0o022) !== 0 || stats.size !== addonDigest.size) return false;
    const bytes = readAll(fd, addonDigest.size);
    return bytes !== undefined && sha256(bytes) === addonDigest.sha256;
  } finally {
    closeSync(fd);
  }
}

/** Write the kept copy: a new file beside it, checked, then renamed over it (a process loading meanwhile sees one or the other). */
function writeKept(dir: string, path: string): boolean {
  const partial = join(dir, `koffi-${addonDigest.sha256}.${process.pid}.${randomBytes(6).toString('hex')}.partial`);
  try {
    writeChecked(partial, addonBytes());
    renameSync(partial, path);
    return true;
  } catch {
    rmSync(partial, { force: true });
    return false;
  }
}

/** This run's own copy, in a new private directory (mode 0700, made by mkdtemp), removed once loaded. */
function privateCopy(root: string): AddonFile {
  const dir = mkdtempSync(join(root, 'tessera-rbd-'));
  const path = join(dir, 'koffi.node');
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    writeChecked(path, addonBytes());
  } catch (error) {
    remove();
    throw rbdError(`rbd: the FFI library written to ${path} did not read back as written (${(error as Error).message}); nothing was loaded`, 'rbd-library-missing', error);
  }
  return { path, kind: 'private', done: remove };
}

/** The compiled-in addon, decompressed and checked against its digest. */
function addonBytes(): Buffer {
  const bytes = brotliDecompressSync(Buffer.from(addonBrotliBase64, 'base64'));
  if (bytes.length !== addonDigest.size || sha256(bytes) !== addonDigest.sha256) {
    throw rbdError('rbd: the FFI library compiled into block-rbd does not match its digest; reinstall block-rbd', 'rbd-library-missing');
  }
  return bytes;
}

/** Create `path` (exclusively, mode 0500), write `bytes`, and read them back through the same descriptor. */
function writeChecked(path: string, bytes: Buffer): void {
  const fd = openSync(path, 'wx+', 0o500);
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, at);
    const back = readAll(fd, bytes.length);
    if (!back?.equals(bytes)) throw new Error('its bytes differ');
  } finally {
    closeSync(fd);
  }
}

/** Exactly `size` bytes from the start of `fd`, or undefined when it holds fewer or more. */
function readAll(fd: number, size: number): Buffer | undefined {
  const buffer = Buffer.alloc(size + 1);
  let got = 0;
  for (let n; got < buffer.length && (n = readSync(fd, buffer, got, buffer.length - got, got)) > 0; ) got += n;
  return got === size ? buffer.subarray(0, size) : undefined;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
