// Hostile module directories: whatever is named like a module in TESSERA_MODULE_DIR (a FIFO,
// /dev/zero, a directory, a 1 TiB sparse file, a loop of symbolic links, ...) is refused at once,
// naming the path and why, and costs no more memory than the module's own size. Real files
// throughout; the module files are made by the real build tools in a fixture workspace.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  ftruncateSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host, ModuleError, type ModuleList, type ModuleRefusalKind } from '@tessera/core';
import { FixtureWorkspace, type FixtureModule } from '../../../tools/test-support/fixture-workspace.ts';

const VICTIM = 'block-victim';
const module = (name: string): FixtureModule => ({
  name,
  provides: [`block-protocol:${name.slice('block-'.length)}`],
  source: `export default { name: '${name}', inits: [{ subsystem: 'block', init: (b) => b.registerProtocol({ name: '${name}', schemes: ['${name}'], open: async () => { throw new Error('unused'); } }) }] };`,
});
const modules = [module(VICTIM), module('block-bystander')];

let workspace: FixtureWorkspace;
let list: ModuleList;
let scratch: string;
let victimBytes: Buffer;
const isRoot = process.getuid?.() === 0;

beforeAll(async () => {
  workspace = new FixtureWorkspace(modules, [
    { name: 'app', accepts: ['block'], modules: Object.fromEntries(modules.map((m) => [m.name, 'loadable' as const])) },
  ]);
  for (const m of modules) await workspace.buildModule(m.name);
  list = await workspace.list('app');
  victimBytes = readFileSync(join(workspace.modulesDir, `${VICTIM}.cjs`));
  scratch = mkdtempSync(join(tmpdir(), 'tessera-hostile-'));
});

afterAll(() => {
  workspace?.remove();
  if (scratch) {
    chmodSync(scratch, 0o755);
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** A fresh TESSERA_MODULE_DIR holding a good copy of the bystander module and `make`'s victim. */
async function hostileDir(make: (victimPath: string) => void | Promise<void>): Promise<string> {
  const dir = mkdtempSync(join(scratch, 'dir-'));
  copyFileSync(join(workspace.modulesDir, 'block-bystander.cjs'), join(dir, 'block-bystander.cjs'));
  await make(join(dir, `${VICTIM}.cjs`));
  return dir;
}

function host(dir: string): Host {
  return new Host(list, { executableUrl: workspace.executableUrl('app'), env: { TESSERA_MODULE_DIR: dir } });
}

/** Sockets made for a case, closed at the end. */
const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

const cases: [string, (path: string) => void | Promise<void>, ModuleRefusalKind, RegExp][] = [
  ['a FIFO (no writer: opening it for reading would block)', (p) => void execFileSync('mkfifo', [p]), 'not-a-regular-file', /^it is a FIFO, not a regular file; reinstall @fixture\/block-victim$/],
  ['a symbolic link to /dev/zero', (p) => symlinkSync('/dev/zero', p), 'not-a-regular-file', /^it is a character device, not a regular file/],
  ['a directory', (p) => mkdirSync(p), 'not-a-regular-file', /^it is a directory, not a regular file/],
  [
    'a Unix socket',
    (p) => new Promise<void>((resolve) => servers.push(createServer().listen(p, resolve))),
    'not-a-regular-file',
    /^it is a socket, not a regular file/,
  ],
  [
    'a 1 TiB sparse file',
    (p) => {
      const fd = openSync(p, 'w');
      ftruncateSync(fd, 2 ** 40);
      closeSync(fd);
    },
    'wrong-size',
    /^it is 1099511627776 bytes long, not the \d+ bytes of the module file this build made; reinstall @fixture\/block-victim$/,
  ],
  [
    'the module file and one byte more',
    (p) => writeFileSync(p, Buffer.concat([victimBytes, Buffer.from('\n')])),
    'wrong-size',
    /^its contents changed after the build: it is (\d+) bytes long, not the \d+ bytes/,
  ],
  [
    'a loop of symbolic links',
    (p) => {
      symlinkSync(`${p}.b`, p);
      symlinkSync(p, `${p}.b`);
    },
    'unreadable',
    /^it cannot be opened: a loop of symbolic links \(ELOOP\)$/,
  ],
];

describe('a hostile file named like a module', () => {
  it.each(cases)('%s is refused at once, naming it and why; the other modules still load', async (_, make, kind, reason) => {
    const dir = await hostileDir(make);
    const path = join(dir, `${VICTIM}.cjs`);
    const started = performance.now();
    const rssBefore = process.memoryUsage().rss;

    const report = await host(dir).listModules();
    const state = report.modules.find((m) => m.name === VICTIM)!.state;
    expect(state).toMatchObject({ status: 'refused', kind, path });
    expect(state.status === 'refused' && state.reason).toMatch(reason);

    const h = host(dir);
    const error = await h.require(`block-protocol:victim`).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ModuleError);
    expect((error as ModuleError).code).toBe('refused');
    expect((error as ModuleError).refusal).toMatchObject({ kind, path });
    expect((error as ModuleError).message).toMatch(new RegExp(`^module ${VICTIM} \\(${path.replace(/[.]/g, '\\.')}\\) refused: it`));
    // The first copy found decides: the good file next to the executable is not used instead.
    expect((error as ModuleError).message).not.toContain(workspace.modulesDir);

    expect(await h.require('block-protocol:bystander')).toBe(true);
    expect(report.modules.find((m) => m.name === 'block-bystander')!.state).toEqual({
      status: 'installed',
      path: join(dir, 'block-bystander.cjs'),
      origin: 'TESSERA_MODULE_DIR',
    });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 2 ** 20);
  });

  it.skipIf(!isRoot)('a character device node (made with mknod) is refused without being read', async () => {
    let dir: string;
    try {
      dir = await hostileDir((p) => void execFileSync('mknod', [p, 'c', '1', '5'], { stdio: 'ignore' })); // /dev/zero's numbers
    } catch {
      return; // mknod not permitted here (a container without CAP_MKNOD): the symlink case covers /dev/zero
    }
    const state = (await host(dir).listModules()).modules.find((m) => m.name === VICTIM)!.state;
    expect(state).toMatchObject({ status: 'refused', kind: 'not-a-regular-file' });
    expect(state.status === 'refused' && state.reason).toMatch(/^it is a character device, not a regular file/);
  });

  // Root reads every file whatever its mode, so this case runs only as another user (the
  // executables' test runs it as nobody when the tests run as root).
  it.skipIf(isRoot)('an unreadable file is refused with the system\'s reason', async () => {
    const dir = await hostileDir((p) => {
      writeFileSync(p, victimBytes);
      chmodSync(p, 0);
    });
    const state = (await host(dir).listModules()).modules.find((m) => m.name === VICTIM)!.state;
    expect(state).toMatchObject({ status: 'refused', kind: 'unreadable', reason: 'it cannot be opened: Permission denied (EACCES)' });
  });

  it('a symbolic link to the regular module file is followed and loads', async () => {
    const dir = await hostileDir((p) => symlinkSync(join(workspace.modulesDir, `${VICTIM}.cjs`), p));
    const h = host(dir);
    expect((await h.listModules()).modules.find((m) => m.name === VICTIM)!.state).toEqual({
      status: 'installed',
      path: join(dir, `${VICTIM}.cjs`),
      origin: 'TESSERA_MODULE_DIR',
    });
    expect(await h.require('block-protocol:victim')).toBe(true);
  });

  it('a dangling symbolic link is a missing file: the next directory is searched', async () => {
    const dir = await hostileDir((p) => symlinkSync(join(scratch, 'nowhere'), p));
    expect((await host(dir).listModules()).modules.find((m) => m.name === VICTIM)!.state).toEqual({
      status: 'installed',
      path: join(workspace.modulesDir, `${VICTIM}.cjs`),
      origin: 'distribution',
    });
  });
});
