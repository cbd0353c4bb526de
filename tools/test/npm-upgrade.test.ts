// npm's upgrade under a running process (issue 15, point 4), as it happens: the emulator and
// block-http installed from their tarballs; an emulator started paused (-S) with a local CD (its
// code loaded, block-http not); `npm install` of a real new build's tarballs (version 0.2.0,
// another stamp) over them, which replaces both package directories; then the old process is
// given an http:// CD over QMP (blockdev-change-medium), the first use of block-http. It loads its own
// build's block-http from the stash the package's postinstall made; without the stash it says
// that it was upgraded while running.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomImage, startImageServer, type ImageServer } from '../../packages/modules/block-http/test/helpers/image-server.ts';
import { guest } from '../../packages/emulator/test/support/guest.ts';
import { RawQmp } from '../../packages/emulator/test/support/qmp-client.ts';
import { npmInstall, packedTarballs, tarballName } from '../test-support/packed-packages.ts';
import { buildUpgrade } from '../test-support/upgrade-build.ts';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-npm-upgrade-'));
const project = join(scratch, 'project');
const nodeModules = join(project, 'node_modules');
const stash = join(nodeModules, '.tessera-stash');
const children: ReturnType<typeof spawn>[] = [];
let server: ImageServer | undefined;
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const stampOf = (file: string) => /stamp=([0-9a-f]{64})/.exec(readFileSync(file).subarray(0, 200).toString('latin1'))![1]!;
const installedBlockHttp = () => join(nodeModules, '@tessera/block-http/dist/block-http.cjs');

/** The installed tessera (through npm's bin link), started paused (-S); `qmp` resolves once it answers, capabilities negotiated. */
function startOldEmulator(name: string, args: string[]) {
  const socket = join(scratch, `${name}.qmp`);
  const env = { ...process.env };
  delete env.TESSERA_MODULE_DIR;
  const child = spawn(process.execPath, [join(nodeModules, '.bin/tessera'), '-S', '-qmp', `unix:${socket},server=on,wait=off`, ...args], { cwd: scratch, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const qmp = RawQmp.open({ path: socket }).then(async ({ client }) => {
    await client.execute('qmp_capabilities');
    return client;
  });
  return { child, qmp, exited, stderr: () => stderr };
}

describe('npm install of a new version under a running tessera', () => {
  it(
    'the old process loads its own build’s block-http from the stash; without it, it says it was upgraded while running',
    async () => {
      const tarballs = await packedTarballs();
      await npmInstall(project, [tarballs.get('@tessera/emulator')!, tarballs.get('@tessera/block-http')!]);
      const oldStamp = stampOf(installedBlockHttp());
      // The postinstall stashed the file by stamp, byte for byte.
      expect(readdirSync(stash)).toEqual([oldStamp]);
      expect(readFileSync(join(stash, oldStamp, 'block-http.cjs')).equals(readFileSync(installedBlockHttp()))).toBe(true);

      let started = performance.now();
      const tree = buildUpgrade(join(scratch, 'new-build'), '0.2.0');
      for (const dir of ['packages/emulator', 'packages/modules/block-http']) {
        execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: join(tree, dir) });
      }
      console.log(`rebuild and pack of a changed tree: ${((performance.now() - started) / 1000).toFixed(1)} s`);

      server = await startImageServer(randomImage(1 << 20));
      const g = guest();
      const localCd = join(scratch, 'local.iso');
      writeFileSync(localCd, Buffer.alloc(2048));
      const args = ['-nographic', '-kernel', g.vmlinuz, '-initrd', g.initrd, '-append', 'console=ttyS0', '-drive', `file=${localCd},format=raw,media=cdrom,if=ide,index=2`];
      const withStash = startOldEmulator('a', args);
      const withoutStash = startOldEmulator('b', args);
      const monitors = await Promise.all([withStash.qmp, withoutStash.qmp]); // each emulator is up, paused
      const changeMedium = (qmp: RawQmp) => qmp.execute('blockdev-change-medium', { device: 'ide1-cd0', filename: server!.url, format: 'raw' });

      started = performance.now();
      await npmInstall(project, ['@tessera/emulator', '@tessera/block-http'].map((name) => join(scratch, tarballName(name, '0.2.0'))));
      console.log(`npm install of the new version: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const newStamp = stampOf(installedBlockHttp());
      expect(newStamp).not.toBe(oldStamp);
      expect(JSON.parse(readFileSync(join(nodeModules, '@tessera/emulator/package.json'), 'utf8')).version).toBe('0.2.0');
      expect(readdirSync(stash).sort()).toEqual([oldStamp, newStamp].sort()); // npm left the stash alone

      // The old process opens an http:// CD: block-http's requests prove its own build's file ran.
      expect(await changeMedium(monitors[0]!), withStash.stderr()).toMatchObject({ return: {} });
      expect(server.requests.length).toBeGreaterThan(0);
      expect(withStash.child.exitCode, withStash.stderr()).toBe(null);
      expect(withStash.stderr()).toBe('');
      withStash.child.kill('SIGKILL');
      await withStash.exited;

      // Control: the same process without the stash cannot load block-http, and says why.
      rmSync(join(stash, oldStamp), { recursive: true });
      const requestsBefore = server.requests.length;
      expect(await changeMedium(monitors[1]!)).toMatchObject({
        error: {
          class: 'GenericError',
          desc: expect.stringContaining(
            `module block-http cannot be loaded: this tessera (build ${oldStamp.slice(0, 12)}…, 0.1.0) was upgraded while running; ` +
              `the installed block-http (${installedBlockHttp()}) is of another build; restart the command`,
          ),
        },
      });
      await monitors[1]!.execute('quit');
      expect(await withoutStash.exited).toBe(0);
      expect(server.requests.length).toBe(requestsBefore);
      expect(existsSync(join(stash, newStamp, 'block-http.cjs'))).toBe(true);
    },
    400_000,
  );
});
