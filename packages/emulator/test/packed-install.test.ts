// tessera as a user installs it: the emulator's tarball with the ui-web and net-socket module
// tarballs in an empty project (all made by `npm pack`, shared with tools/test/packed-install).
// A guest boots from the installed emulator and its console shows in Chromium through the
// installed ui-web; one boot.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchBrowser, type TestBrowser } from '../../modules/ui-web/test/helpers/browser.ts';
import { directoriesNamed, nodeBinary, npmInstall, packedTarballs } from '../../../tools/test-support/packed-packages.ts';
import { guest } from './support/guest.ts';

const BOOT_TIMEOUT_MS = 240_000;
const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;

interface Report {
  modules: { name: string; state: { status: string; origin?: string; path?: string; install?: string } }[];
}

/** Environment without TESSERA_MODULE_DIR: the installed packages alone decide. */
function environment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TESSERA_MODULE_DIR;
  return env;
}

describe('tessera installed from its tarball with ui-web and net-socket', () => {
  let project: string;
  let nodeModules: string;
  let tessera: string;
  let plantedMarker: string;
  let npmInstalledV86: boolean;
  let child: ChildProcessWithoutNullStreams | undefined;
  let browser: TestBrowser | undefined;

  beforeAll(async () => {
    const tarballs = await packedTarballs();
    project = mkdtempSync(join(tmpdir(), 'tessera-packed-emulator-'));
    nodeModules = join(project, 'node_modules');
    tessera = join(nodeModules, '@tessera/emulator/dist/tessera.mjs');
    await npmInstall(project, ['@tessera/emulator', '@tessera/ui-web', '@tessera/net-socket'].map((name) => tarballs.get(name)!));
    // npm installs no v86 (checked below); then a `v86` is planted where Node's package search
    // from the executable would find it: it must never run.
    const planted = join(nodeModules, 'v86');
    npmInstalledV86 = existsSync(planted);
    plantedMarker = join(project, 'planted-v86-ran');
    rmSync(planted, { recursive: true, force: true });
    mkdirSync(join(planted, 'build'), { recursive: true });
    writeFileSync(join(planted, 'package.json'), JSON.stringify({ name: 'v86', version: '0.5.462', type: 'module', main: 'build/libv86.mjs', exports: { '.': './build/libv86.mjs', './build/*': './build/*' } }));
    writeFileSync(join(planted, 'build/libv86.mjs'), `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(plantedMarker)}, 'ran'); export class V86 {}\n`);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (project) rmSync(project, { recursive: true, force: true });
  });

  const listModules = (node: string): Report => {
    const stdout = execFileSync(node, [tessera, '--list-modules', '--output=json'], { encoding: 'utf8', env: environment() });
    return JSON.parse(stdout) as Report;
  };

  it('brings its own copy of v86 (no npm dependency) and no ws; finds the module packages installed beside it', async () => {
    expect(npmInstalledV86).toBe(false);
    expect(JSON.parse(readFileSync(join(nodeModules, '@tessera/emulator/dist/tessera.deps/v86/package.json'), 'utf8')).version).toMatch(/^0\.5\.462\b/);
    expect(directoriesNamed(nodeModules, 'ws')).toEqual([]);
    // Node 20 here, and the maintained lines from the registry: the same report.
    for (const node of [process.execPath, await nodeBinary(22), await nodeBinary(24), await nodeBinary(26)]) {
      const states = Object.fromEntries(listModules(node).modules.map((m) => [m.name, m.state]));
      for (const name of ['ui-web', 'net-socket']) {
        expect(states[name]).toEqual({ status: 'installed', origin: 'package', path: join(nodeModules, `@tessera/${name}/dist/${name}.cjs`) });
      }
      expect(states['block-http']).toMatchObject({ status: 'missing', install: `cd ${project} && npm install @tessera/block-http@${VERSION}` });
    }
  }, 300_000);

  it.skipIf(!existsSync(CHROMIUM))('boots a guest whose console the installed ui-web shows in Chromium', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async () => {
    const { vmlinuz, initrd } = guest();
    const append = 'console=ttyS0 cryptomgr.notests=1 noisapnp nokaslr tessera.modules=none tessera.test=echo tessera.tty=tty0';
    const started = Date.now();
    child = spawn(process.execPath, [tessera, '-m', '128', '-kernel', vmlinuz, '-initrd', initrd, '-append', append, '-display', 'web,port=0'], {
      env: environment(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('latin1').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    await expect.poll(() => /web display at (http:\/\/\S+)/.exec(output)?.[1] ?? child!.exitCode, { timeout: 30_000 }).toMatch(/^http:/);
    const url = /web display at (http:\/\/\S+)/.exec(output)![1]!;

    browser = await launchBrowser();
    const page = await browser.context.newPage();
    await page.goto(url);
    const remaining = () => BOOT_TIMEOUT_MS - (Date.now() - started);
    await expect
      .poll(() => page.locator('#serial-output').textContent(), { timeout: remaining(), interval: 500 })
      .toContain('TESSERA-GUEST: echo ready tty=/dev/tty0');
    await expect.poll(() => page.locator('#text').textContent(), { timeout: 30_000, interval: 500 }).toContain('TESSERA-GUEST: echo ready');
    child.kill('SIGKILL');
    // The machine ran the emulator's own v86, never the one planted in node_modules.
    expect(existsSync(plantedMarker)).toBe(false);
  });
});
