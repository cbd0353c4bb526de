// A distribution tree made by tools/install.mjs, used as a user of a Debian package would: run
// from another directory (cwd /), with hostile packages planted in node_modules above the prefix
// (under /tmp anyone can plant them), and upgraded to a new build under a running emulator.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { markers } from '../../packages/emulator/test/support/boot.ts';
import { guest } from '../../packages/emulator/test/support/guest.ts';
import { RawQmp } from '../../packages/emulator/test/support/qmp-client.ts';
import { workspaceRoot } from '../test-support/executables.ts';
import { buildUpgrade } from '../test-support/upgrade-build.ts';

const base = mkdtempSync(join(tmpdir(), 'tessera-install-'));
const prefix = join(base, 'prefix');
const moduleRoot = join(prefix, 'lib/tessera/modules/dist');
/** Written by any planted package's code if it ever runs. */
const marker = join(base, 'hostile-code-ran');
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** Packages Node's node_modules search would find walking up from the installed executables. */
function plantHostilePackages(dir: string) {
  const code = `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, import.meta.url); export class V86 {}; export default { name: 'block-http', inits: [] };\n`;
  const plant = (name: string, files: string[]) => {
    const root = join(dir, 'node_modules', name);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name, version: '0.1.0', type: 'module', main: files[0], exports: { '.': `./${files[0]}`, './*': './*' } }));
    for (const file of files) {
      mkdirSync(join(root, file, '..'), { recursive: true });
      writeFileSync(join(root, file), code);
    }
  };
  plant('v86', ['build/libv86.mjs']);
  plant('@tessera/block-http', ['index.mjs', 'dist/block-http.cjs']);
  plant('@tessera/core', ['index.mjs']);
}
plantHostilePackages(base);
plantHostilePackages(prefix);

const install = (args: string[], tree = workspaceRoot) =>
  execFileSync(process.execPath, [join(tree, 'tools/install.mjs'), '--prefix', prefix, ...args], { cwd: '/', encoding: 'utf8' });

function report(bin: string) {
  const result = spawnSync(process.execPath, [join(prefix, 'bin', bin), '--list-modules', '--output=json'], {
    cwd: '/',
    encoding: 'utf8',
    env: { ...process.env, TESSERA_MODULE_DIR: '' },
  });
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as { stamp: string; version: string; directories: { path: string }[]; modules: { name: string; state: { status: string; path?: string; install?: string } }[] };
}

describe.sequential('tools/install.mjs', () => {
  it('--modules block-http installs the executables and only that module, each part named in its manifest; run from /, the executables find it', () => {
    install(['--modules', 'block-http']);
    const { stamp } = report('tessera-img');
    const stampDir = join(moduleRoot, stamp);
    expect(readdirSync(moduleRoot).filter((n) => !n.startsWith('.'))).toEqual([stamp]);
    expect(readdirSync(stampDir)).toEqual(['block-http.cjs']);
    expect(readdirSync(join(prefix, 'lib/tessera/parts')).sort()).toEqual(['tessera-img.json', 'tessera-modules-block-http.json', 'tessera.json']);
    const part = JSON.parse(readFileSync(join(prefix, 'lib/tessera/parts/tessera-modules-block-http.json'), 'utf8'));
    expect(part).toMatchObject({ paths: [`lib/tessera/modules/dist/${stamp}/block-http.cjs`], stamp, depends: ['tessera-img', 'tessera'] });
    const emulatorPart = JSON.parse(readFileSync(join(prefix, 'lib/tessera/parts/tessera.json'), 'utf8'));
    expect(emulatorPart.paths).toEqual(['bin/tessera', 'lib/tessera/emulator']);
    // The emulator's own runtime dependency travels inside its part, with its license.
    expect(readFileSync(join(prefix, 'lib/tessera/emulator/dist/tessera.deps/v86/LICENSE'), 'utf8')).toMatch(/The v86 contributors/);
    for (const bin of ['tessera-img', 'tessera']) {
      const r = report(bin);
      expect(r.directories.map((d) => d.path)).toEqual([stampDir]);
      expect(r.modules.find((m) => m.name === 'block-http')!.state).toEqual({ status: 'installed', origin: 'distribution', path: join(stampDir, 'block-http.cjs') });
    }
    // A module left out is missing, and the advice is the distribution's (its part), not npm's.
    expect(report('tessera').modules.find((m) => m.name === 'ui-web')!.state).toEqual({
      status: 'missing',
      searched: [join(stampDir, 'ui-web.cjs')],
      install:
        "your distribution's package tessera-modules-ui-web of version 0.1.0, or, from the Tessera 0.1.0 tree this was built from: " +
        `node tools/install.mjs --prefix ${prefix} --modules ui-web`,
    });
    install([]);
    expect(report('tessera').modules.find((m) => m.name === 'ui-web')!.state).toEqual({ status: 'installed', origin: 'distribution', path: join(stampDir, 'ui-web.cjs') });
    expect(existsSync(marker)).toBe(false);
  });

  it('installs the image tool with the program and code cache its launcher runs', () => {
    const result = spawnSync(join(prefix, 'bin', 'tessera-img'), ['--version'], { cwd: '/', encoding: 'utf8', env: { ...process.env, TESSERA_REPORT_CODE_CACHE: '1' } });
    expect(result).toMatchObject({ status: 0, stderr: 'code cache: used\n' });
  });

  it('installs each executable with its image-lock addon, which the installed executable loads (it checks its digest)', () => {
    expect(existsSync(join(prefix, 'lib/tessera/img-tool/dist/tessera-img.ofd-lock.node'))).toBe(true);
    expect(existsSync(join(prefix, 'lib/tessera/emulator/dist/tessera.ofd-lock.node'))).toBe(true);
    const image = join(base, 'locked.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '1M']);
    // info of a qcow2 takes image locks: it fails if the addon is missing or not the build's.
    const result = spawnSync(join(prefix, 'bin', 'tessera-img'), ['info', image], { cwd: '/', encoding: 'utf8' });
    expect(result).toMatchObject({ status: 0, stderr: '' });
  });

  it(
    'upgraded under a running emulator (a real rebuild, version 0.2.0), the old process loads its own build’s block-http, boots the guest, and no planted package runs',
    async () => {
      install([]); // the old build, with every module
      const old = report('tessera');
      let started = performance.now();
      const newTree = buildUpgrade(join(base, 'new-build'), '0.2.0');
      console.log(`rebuild of a changed tree: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const server = await rangeServer(guest().disk);
      const { port } = server.address() as { port: number };
      const g = guest();
      // Three old emulators start paused (-S) with a local CD: their code is loaded, and block-http is
      // not. After the upgrade each is given an http:// CD over QMP (blockdev-change-medium): the
      // first use of block-http. (A -kernel FIFO used to hold them; boot files must be regular files now.)
      const append = 'console=ttyS0 cryptomgr.notests=1 noisapnp nokaslr tessera.test=marker tessera.modules=none';
      const url = `http://127.0.0.1:${port}/disk.img`;
      // A local CD to start with (QEMU's machines have a CD-ROM drive to change the medium of).
      const localCd = join(base, 'local.iso');
      writeFileSync(localCd, Buffer.alloc(2048));
      const oldArgs = ['-nographic', '-kernel', g.vmlinuz, '-initrd', g.initrd, '-append', append, '-drive', `file=${localCd},format=raw,media=cdrom,if=ide,index=2`];
      // The third finds its modules in one unversioned directory, as an npm layout has them
      // (npm replaces a package's files in place on upgrade).
      const flat = join(base, 'flat-modules');
      mkdirSync(flat);
      cpSync(join(moduleRoot, old.stamp, 'block-http.cjs'), join(flat, 'block-http.cjs'));
      const booting = startOldEmulator(join(base, 'a.qmp'), oldArgs);
      const stranded = startOldEmulator(join(base, 'b.qmp'), oldArgs);
      const replaced = startOldEmulator(join(base, 'c.qmp'), oldArgs, { TESSERA_MODULE_DIR: flat });
      const changeMedium = (qmp: RawQmp) => qmp.execute('blockdev-change-medium', { device: 'ide1-cd0', filename: url, format: 'raw' });
      try {
        const monitors = await Promise.all([booting.qmp, stranded.qmp, replaced.qmp]); // each emulator is up, paused

        install(['--modules', 'block-http'], newTree);
        const upgraded = report('tessera');
        expect(upgraded).toMatchObject({ version: '0.2.0' });
        expect(upgraded.stamp).not.toBe(old.stamp);
        expect(readdirSync(moduleRoot).sort()).toEqual([old.stamp, upgraded.stamp].sort());
        // A prune now would take the running processes' modules: it is refused while they run.
        const pruning = spawnSync(process.execPath, [join(newTree, 'tools/install.mjs'), '--prefix', prefix, '--modules', 'block-http', '--prune'], { cwd: '/', encoding: 'utf8' });
        const pids = [booting, stranded, replaced].map((run) => run.child.pid).sort((a, b) => a! - b!);
        expect(pruning.stderr).toContain(`processes ${pids.join(', ')} run executables of ${prefix}`);
        expect(readdirSync(moduleRoot)).toContain(old.stamp);

        started = performance.now();
        expect(await changeMedium(monitors[0]!)).toMatchObject({ return: {} });
        expect(await monitors[0]!.execute('cont')).toMatchObject({ return: {} });
        const { code, stdout, stderr } = await booting.exited;
        console.log(`boot of the old emulator after the upgrade: ${((performance.now() - started) / 1000).toFixed(1)} s`);
        expect(stderr).toBe('');
        expect(markers(stdout)).toEqual(expect.arrayContaining(['booted', 'test marker done', 'poweroff']));
        expect(code).toBe(0);
        expect(server.requests).toBeGreaterThan(0); // the CD was opened through block-http
        expect(existsSync(marker)).toBe(false);

        // A packager's clean-up that ignores running processes takes the other one's modules: it
        // is told why, and what to do.
        rmSync(join(moduleRoot, old.stamp), { recursive: true });
        expect(await changeMedium(monitors[1]!)).toMatchObject({
          error: {
            class: 'GenericError',
            desc: expect.stringContaining(
              `module block-http cannot be loaded: this tessera (build ${old.stamp.slice(0, 12)}…, 0.1.0) was upgraded while running; ` +
                `the installed block-http is build ${upgraded.stamp.slice(0, 12)}… (${join(moduleRoot, upgraded.stamp, 'block-http.cjs')}); restart the command`,
            ),
          },
        });
        await monitors[1]!.execute('quit');
        expect((await stranded.exited).code).toBe(0);

        // The unversioned directory gets the new build's file, as npm would replace it.
        cpSync(join(moduleRoot, upgraded.stamp, 'block-http.cjs'), join(flat, 'block-http.cjs'));
        expect(await changeMedium(monitors[2]!)).toMatchObject({
          error: {
            class: 'GenericError',
            desc: expect.stringContaining(
              `module block-http cannot be loaded: this tessera (build ${old.stamp.slice(0, 12)}…, 0.1.0) was upgraded while running; ` +
                `the installed block-http (${join(flat, 'block-http.cjs')}) is of another build; restart the command`,
            ),
          },
        });
        await monitors[2]!.execute('quit');
        expect((await replaced.exited).code).toBe(0);

        // Once no process of the prefix runs, --prune removes the builds no installed executable uses.
        install(['--modules', 'block-http', '--prune'], newTree);
        expect(readdirSync(moduleRoot)).toEqual([upgraded.stamp]);
        const parts = readdirSync(join(prefix, 'lib/tessera/parts')).sort();
        expect(parts).toEqual(['tessera-img.json', 'tessera-modules-block-http.json', 'tessera.json']); // ui-web's and net-socket's went with the old build
        for (const part of parts) expect(JSON.parse(readFileSync(join(prefix, 'lib/tessera/parts', part), 'utf8')).stamp).toBe(upgraded.stamp);
      } finally {
        for (const run of [booting, stranded, replaced]) run.child.kill('SIGKILL');
        server.close();
      }
    },
    360_000,
  );
});

/** Start the installed emulator paused (-S) with a QMP socket; `qmp` resolves once it answers, capabilities negotiated. */
function startOldEmulator(socket: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(prefix, 'bin/tessera'), '-S', '-qmp', `unix:${socket},server=on,wait=off`, ...args], { cwd: '/', env: { ...process.env, TESSERA_MODULE_DIR: undefined, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const qmp = RawQmp.open({ path: socket }).then(async ({ client }) => {
    await client.execute('qmp_capabilities');
    return client;
  });
  return { child, qmp, exited };
}

/** A plain HTTP server of one file with Range support (what block-http needs), counting requests. */
async function rangeServer(file: string): Promise<Server & { requests: number }> {
  const bytes = readFileSync(file);
  const server = Object.assign(
    createServer((request, response) => {
      server.requests++;
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
      if (!range) {
        response.writeHead(200, { 'content-length': bytes.length, 'accept-ranges': 'bytes' });
        response.end(request.method === 'HEAD' ? undefined : bytes);
        return;
      }
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
      response.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'accept-ranges': 'bytes' });
      response.end(request.method === 'HEAD' ? undefined : bytes.subarray(start, end + 1));
    }),
    { requests: 0 },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
