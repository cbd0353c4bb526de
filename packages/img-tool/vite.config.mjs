import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appViteConfig } from '../../tools/build/vite-app.mjs';

/** The code cache's workload: the common case, a raw image with data and zeroes converted to qcow2. */
function warmUp(dir) {
  const image = new Uint8Array(4 * 1024 * 1024);
  for (let at = 0; at < image.length / 4; at++) image[at] = (at * 2654435761) >>> 24;
  writeFileSync(join(dir, 'image.raw'), image);
  return ['convert', '-O', 'qcow2', 'image.raw', 'image.qcow2'];
}

export default ({ mode }) => appViteConfig(import.meta.dirname, mode, { warmUp });
