// The tessera-img executable an A/B bench runs for a build: a tree (a checkout whose img-tool is
// built: packages/img-tool/dist/<bin>) or an executable file given as such.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { executableFileName } from '../tools/build/paths.mjs';

export function imgToolExecutable(path) {
  if (statSync(path).isFile()) return path;
  const app = join(path, 'packages/img-tool');
  return join(app, 'dist', executableFileName(app) ?? JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).bin['tessera-img']);
}
