import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appViteConfig } from '../../tools/build/vite-app.mjs';

/** A raw image of 4 MiB, its first quarter data, the rest zeroes. */
function rawImage(dir, name) {
  const image = new Uint8Array(4 * 1024 * 1024);
  for (let at = 0; at < image.length / 4; at++) image[at] = (at * 2654435761) >>> 24;
  writeFileSync(join(dir, name), image);
}

/**
 * The code cache of the quick commands (info, and every command not named below): `info` of a
 * raw image (probed) and of a qcow2 image with its raw backing file, so the cache holds both
 * drivers' open paths and little else. V8 reads and takes in the whole cache at every start: a cache holding convert's code too
 * made `info x.raw` about 1 ms slower.
 */
function quickWarmUp(dir) {
  rawImage(dir, 'image.raw');
  return {
    prepare: [['create', '-q', '-f', 'qcow2', '-b', 'image.raw', '-F', 'raw', 'image.qcow2']],
    runs: [
      ['info', 'image.raw'], // probed
      ['info', '--backing-chain', 'image.qcow2'],
      ['--version'],
    ],
  };
}

/** The commands that write images: the common case, a raw image with data and zeroes converted to qcow2. */
function convertWarmUp(dir) {
  rawImage(dir, 'image.raw');
  return ['convert', '-O', 'qcow2', 'image.raw', 'image.qcow2'];
}

const WRITING_COMMANDS = ['convert', 'commit', 'rebase', 'dd', 'bench', 'create', 'amend', 'resize', 'snapshot'];

export default ({ mode }) =>
  appViteConfig(import.meta.dirname, mode, {
    warmUp: quickWarmUp,
    commandWarmUps: [{ name: 'convert', commands: WRITING_COMMANDS, warmUp: convertWarmUp }],
  });
