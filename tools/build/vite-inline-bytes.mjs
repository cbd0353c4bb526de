// `import bytes from 'some/file.bin?base64'`: the file's bytes, base64, as a string in the bundle.
// A module that must carry a native addon (block-rbd's FFI library) so carries it inside its one
// verified file; the same import works when an executable links the module in (static builds).
import { readFileSync } from 'node:fs';

const SUFFIX = '?base64';

export function inlineBytesAsBase64() {
  return {
    name: 'tessera-inline-bytes-base64',
    enforce: 'pre',
    load(id) {
      if (!id.endsWith(SUFFIX)) return null;
      const bytes = readFileSync(id.slice(0, -SUFFIX.length));
      return { code: `export default ${JSON.stringify(bytes.toString('base64'))};\n`, moduleType: 'js' };
    },
  };
}
