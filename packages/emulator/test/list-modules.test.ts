import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configurations, executable, modulesDir, run } from '../../../tools/test-support/executables.ts';

interface Report {
  executable: string;
  configuration: string;
  stamp: string;
  directories: { path: string; origin: string }[];
  modules: { name: string; category: string; linkage: string; state: { status: string; kind?: string; path?: string; reason?: string } }[];
}

describe.each(configurations)('tessera (%s)', (configuration) => {
  const exe = () => executable('emulator', configuration);

  it('--list-modules prints its own list, in human and JSON form', async () => {
    const json = await run(exe(), ['--list-modules', '--output=json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as Report;
    expect(report.executable).toBe('tessera');
    expect(report.configuration).toBe(configuration);
    expect(report.stamp).toMatch(/^[0-9a-f]{64}$/);
    // The build's own stamp directory (a static build has no loadable modules, so no such directory).
    expect(report.directories.at(-1)!.path).toBe(join(dirname(modulesDir), report.stamp));
    for (const m of report.modules) {
      expect(['block', 'ui', 'net']).toContain(m.category);
      const expected = m.linkage === 'builtin' ? 'builtin' : 'installed';
      expect(m.state.status).toBe(expected);
    }
    if (configuration === 'static') expect(report.modules.every((m) => m.linkage === 'builtin')).toBe(true);
    else expect(report.modules.some((m) => m.linkage === 'loadable')).toBe(true);

    const human = await run(exe(), ['--list-modules']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`build stamp: ${report.stamp}`);
    for (const m of report.modules) expect(human.stdout).toMatch(new RegExp(`^${m.name} +${m.category} +${m.linkage} +${m.state.status}`, 'm'));
  });

  it('-version names the build; a bad option argument is an error', async () => {
    const version = await run(exe(), ['-version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^tessera emulator version \d+\.\d+\.\d+/);
    const bad = await run(exe(), ['-m', 'lots']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("tessera: -m lots: Parameter 'size'");
    const badOutput = await run(exe(), ['--list-modules', '--output=xml']);
    expect(badOutput.code).toBe(1);
    expect(badOutput.stderr).toContain("'xml'");
  });
});

// Hostile module directories: whatever is named like a module is refused promptly, naming where
// it was found and why, in bounded memory, and the executable's other modules stay installed.
// Root reads every file whatever its mode, so as root the executable runs as nobody (setpriv)
// for the unreadable file to be unreadable.
describe('tessera (modular) with a hostile TESSERA_MODULE_DIR', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'tessera-hostile-'));
  chmodSync(scratch, 0o755);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  let dirs = 0;

  type Make = (path: string) => void;
  const copy: Make = (p) => copyFileSync(join(modulesDir, p.slice(p.lastIndexOf('/') + 1)), p);
  const fifo: Make = (p) => void execFileSync('mkfifo', [p]);
  const devZero: Make = (p) => symlinkSync('/dev/zero', p);
  const sparse: Make = (p) => {
    const fd = openSync(p, 'w');
    ftruncateSync(fd, 2 ** 40);
    closeSync(fd);
  };
  const oneByteMore: Make = (p) => writeFileSync(p, Buffer.concat([readFileSync(join(modulesDir, p.slice(p.lastIndexOf('/') + 1))), Buffer.from('\n')]));
  const directory: Make = (p) => mkdirSync(p);
  const loop: Make = (p) => {
    symlinkSync(`${p}.other`, p);
    symlinkSync(p, `${p}.other`);
  };
  const unreadable: Make = (p) => {
    copy(p);
    chmodSync(p, 0);
  };

  it.each([
    [{ 'block-http': fifo, 'ui-web': devZero, 'net-socket': copy, 'block-vmdk': copy }, { 'block-http': /^it is a FIFO, not a regular file/, 'ui-web': /^it is a character device, not a regular file/ }],
    [
      { 'block-http': sparse, 'ui-web': oneByteMore, 'net-socket': directory, 'block-vmdk': copy },
      {
        'block-http': /^it is 1099511627776 bytes long, not the \d+ bytes of the module file this build made/,
        'ui-web': /^its contents changed after the build: it is \d+ bytes long/,
        'net-socket': /^it is a directory, not a regular file/,
      },
    ],
    [{ 'block-http': loop, 'ui-web': unreadable, 'net-socket': copy, 'block-vmdk': copy }, { 'block-http': /\(ELOOP\)$/, 'ui-web': /^it cannot be opened: Permission denied \(EACCES\)$/ }],
  ] as [Record<string, Make>, Record<string, RegExp>][])('case %#: each hostile file is refused promptly with its reason', async (files, reasons) => {
    const dir = join(scratch, `dir-${dirs++}`);
    mkdirSync(dir, { mode: 0o755 });
    for (const [name, make] of Object.entries(files)) make(join(dir, `${name}.cjs`));
    // Every other module of the build is installed as it should be.
    for (const file of readdirSync(modulesDir)) if (file.endsWith('.cjs') && !(file.slice(0, -4) in files)) copy(join(dir, file));
    const rssFile = join(scratch, `rss-${dirs}`);
    const started = performance.now();
    const result = await run(executable('emulator', 'modular'), ['--list-modules', '--output=json'], {
      env: { TESSERA_MODULE_DIR: dir },
      wrapper: ['/usr/bin/time', '-f', '%M', '-o', rssFile, ...asUser],
      timeoutMs: 20_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) * 1024).toBeLessThan(256 * 2 ** 20);
    const report = JSON.parse(result.stdout) as Report;
    // The modules planted in the directory (other loadable modules are found where the build put them).
    for (const m of report.modules.filter((m) => m.linkage === 'loadable' && m.name in files)) {
      const path = join(dir, `${m.name}.cjs`);
      if (reasons[m.name]) {
        expect(m.state).toMatchObject({ status: 'refused', path });
        expect(m.state.reason).toMatch(reasons[m.name]!);
      } else {
        expect(m.state).toEqual({ status: 'installed', path, origin: 'TESSERA_MODULE_DIR' });
      }
    }
    const human = await run(executable('emulator', 'modular'), ['--list-modules'], { env: { TESSERA_MODULE_DIR: dir }, wrapper: asUser, timeoutMs: 20_000 });
    for (const name of Object.keys(reasons)) expect(human.stdout).toMatch(new RegExp(`^${name} .* refused: ${join(dir, name)}\\.cjs \\(from TESSERA_MODULE_DIR\\): it`, 'm'));
  });
});
