// koffi's native part (a Node-API addon, MIT, from the registry package of koffi's prebuilt
// binaries) is compiled into this module's file, so the one file the executable verifies by
// sha256 before importing it carries these bytes too: nothing else is read and trusted. A
// shared object can only be loaded from a file, so the bytes are written out (addon-file.ts) and
// loaded by that file's own unique path, not /proc/self/fd/N: the C library knows a loaded
// object by the name it was opened by, so a descriptor number reused after another addon was
// loaded as /proc/self/fd/N (the image-lock addon is) would hand back that addon instead.
import { tmpdir } from 'node:os';
import { rbdError } from '../errors.ts';
import { addonFile } from './addon-file.ts';
import type { Koffi } from './koffi-types.ts';

let loaded: Koffi | undefined;

export function koffi(): Koffi {
  return (loaded ??= load());
}

function load(): Koffi {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw rbdError(`rbd: this build of block-rbd carries its FFI library for linux-x64 only, not ${process.platform}-${process.arch}`, 'rbd-library-missing');
  }
  const file = addonFile(tmpdir());
  try {
    const module = { exports: {} as Koffi };
    try {
      process.dlopen(module, file.path);
    } catch (error) {
      throw rbdError(
        `rbd: cannot load the FFI library ${file.path} (${(error as Error).message}); if its directory is mounted noexec, set TMPDIR to one that is not`,
        'rbd-library-missing',
        error,
      );
    }
    if (typeof module.exports.load !== 'function') {
      throw rbdError(`rbd: ${file.path} did not load as koffi's addon; nothing was called`, 'rbd-library-missing');
    }
    return module.exports;
  } finally {
    file.done();
  }
}
