// Two import suffixes for files inside a dependency that its package.json `exports` does not
// export (a WebAssembly build's glue and its .wasm):
// - `import base64 from 'pkg/path/file.wasm?bytes'`: the file's bytes inlined into the bundle as a
//   base64 string. A module's WebAssembly then travels inside its one verified file (the loader's
//   sha256 covers it) instead of beside it, where nothing would check it.
// - `import base64 from 'pkg/path/file.node?brotli-bytes'`: the same, brotli-compressed first (the
//   importer decompresses with node:zlib): a large native addon costs every start the parse of
//   its base64 text, and compressed koffi's 1.1 MB is 0.2 MB.
// - `import digest from 'pkg/path/file.node?digest'`: `{ sha256, size }` of the file, for an
//   importer that keeps a copy of it outside the bundle and checks that copy before using it.
// - `import { x } from 'pkg/path/file.js?file'`: that JavaScript file, bundled like any other.
// The package is found in the node_modules directories above the importer, as Node looks for it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { brotliCompressSync, constants } from 'node:zlib';

const SUFFIXES = ['?bytes', '?brotli-bytes', '?digest', '?file'];
const VIRTUAL = '\0tessera-bytes:';
const VIRTUAL_BROTLI = '\0tessera-brotli-bytes:';
const VIRTUAL_DIGEST = '\0tessera-digest:';
const VIRTUAL_OF = { '?bytes': VIRTUAL, '?brotli-bytes': VIRTUAL_BROTLI, '?digest': VIRTUAL_DIGEST };

function packageFile(specifier, importer) {
  const parts = specifier.split('/');
  const nameParts = specifier.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameParts).join('/');
  const inside = parts.slice(nameParts).join('/');
  for (const dir of createRequire(importer).resolve.paths(name) ?? []) {
    const file = join(dir, name, inside);
    if (existsSync(file)) return file;
  }
  return undefined;
}

export function inlinedBytes() {
  return {
    name: 'tessera-inlined-bytes',
    enforce: 'pre',
    resolveId(id, importer) {
      const suffix = SUFFIXES.find((s) => id.endsWith(s));
      if (!suffix || !importer) return null;
      const file = packageFile(id.slice(0, -suffix.length), importer);
      if (!file) this.error(`${id}: no such file in the packages installed above ${importer}`);
      // A virtual id (\0…), so that vitest does not hand a file under node_modules to Node to load.
      return suffix in VIRTUAL_OF ? `${VIRTUAL_OF[suffix]}${file}` : file;
    },
    load(id) {
      if (id.startsWith(VIRTUAL)) return `export default ${JSON.stringify(readFileSync(id.slice(VIRTUAL.length)).toString('base64'))};`;
      if (id.startsWith(VIRTUAL_BROTLI)) {
        const bytes = brotliCompressSync(readFileSync(id.slice(VIRTUAL_BROTLI.length)), { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
        return `export default ${JSON.stringify(bytes.toString('base64'))};`;
      }
      if (id.startsWith(VIRTUAL_DIGEST)) {
        const bytes = readFileSync(id.slice(VIRTUAL_DIGEST.length));
        return `export default ${JSON.stringify({ sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length })};`;
      }
      return null;
    },
  };
}
