// koffi's native part (a Node-API addon, MIT, from the registry package of koffi's prebuilt
// binaries) is compiled into this module's file, so the one file the executable verifies by
// sha256 before importing it carries these bytes too: nothing else is read and trusted. A
// shared object can only be loaded from a file, so the bytes are written once to a new private
// directory (mode 0700, made by mkdtemp, the file created exclusively, mode 0500), read back
// through that descriptor and compared with the compiled-in copy, loaded, and removed at once.
// It is loaded by its own unique path, not /proc/self/fd/N: the C library knows a loaded object
// by the name it was opened by, so a descriptor number reused after another addon was loaded
// as /proc/self/fd/N (the image-lock addon is) would hand back that addon instead.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
// Compressed (0.2 MB instead of 1.1): every start parses and hashes the module's text.
import addonBrotliBase64 from '@koromix/koffi-linux-x64/linux_x64/koffi.node?brotli-bytes';
import { rbdError } from '../errors.ts';
import type { Koffi } from './koffi-types.ts';

let loaded: Koffi | undefined;

export function koffi(): Koffi {
  return (loaded ??= load());
}

function load(): Koffi {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw rbdError(`rbd: this build of block-rbd carries its FFI library for linux-x64 only, not ${process.platform}-${process.arch}`, 'rbd-library-missing');
  }
  const expected = brotliDecompressSync(Buffer.from(addonBrotliBase64, 'base64'));
  const dir = mkdtempSync(join(tmpdir(), 'tessera-rbd-'));
  try {
    const path = join(dir, 'koffi.node');
    const fd = openSync(path, 'wx+', 0o500);
    try {
      for (let at = 0; at < expected.length; ) at += writeSync(fd, expected, at, expected.length - at, at);
      const back = Buffer.alloc(expected.length + 1);
      let got = 0;
      for (let n; (n = readSync(fd, back, got, back.length - got, got)) > 0; ) got += n;
      if (got !== expected.length || !back.subarray(0, got).equals(expected)) {
        throw rbdError(`rbd: the FFI library written to ${path} did not read back as written; nothing was loaded`, 'rbd-library-missing');
      }
      const module = { exports: {} as Koffi };
      try {
        process.dlopen(module, path);
      } catch (error) {
        throw rbdError(
          `rbd: cannot load the FFI library from ${dir} (${(error as Error).message}); if that directory is mounted noexec, set TMPDIR to one that is not`,
          'rbd-library-missing',
          error,
        );
      }
      if (typeof module.exports.load !== 'function') {
        throw rbdError(`rbd: ${path} did not load as koffi's addon; nothing was called`, 'rbd-library-missing');
      }
      return module.exports;
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
