// The program level: help, version, unknown commands, option parsing, --list-modules.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workspaceRoot } from '../../../tools/test-support/executables.ts';
import { both, configurations, tempDir, tool } from './helpers.ts';

describe.each(configurations)('tessera-img command line (%s)', (configuration) => {
  it.each([
    [[]],
    [['foo']],
    [['foo', '-h']],
    [['-x']],
    [['-T']],
    [['info', '-z', 'a.raw']],
    [['info', '--foo', 'a.raw']],
    [['info', 'a.raw', '-f']],
    [['info', 'a.raw', '-Uf']],
    [['info', '--outpu']],
    [['info', '--o=json', 'a.raw']],
    [['info', '--for', 'raw', 'a.raw']],
    [['info', '--image-opts=x', 'a.raw']],
    [['create', '-fq', 'x.raw', '1M']],
    [['convert', '--t', 'a.raw', 'b.raw']],
    [['compare', '--fo', 'raw', 'a.raw', 'a.raw']],
  ])('%j: same message and exit code as qemu-img', async (args) => {
    const dir = await tempDir();
    const { qemu, ours } = await both(configuration, args, dir);
    expect(ours).toEqual(qemu);
  });

  it.each([['--help'], ['-h'], ['-h', 'foo'], ['info', '-h'], ['create', '--help'], ['compare', '-h'], ['convert', '-h']])(
    '%s prints the help and exits 0',
    async (...args) => {
      const result = await tool(configuration, args);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(/^tessera-img version \d+\.\d+\.\d+/);
      expect(result.stdout).toContain('usage: tessera-img [standard options] command [command options]');
      for (const command of ['compare', 'convert', 'create', 'info']) {
        expect(result.stdout).toMatch(new RegExp(`^  ${command} \\[`, 'm'));
      }
      expect(result.stdout.split('\n')).toContain(`Supported formats: ${listedDrivers().join(' ')}`);
      // Each is a driver name qemu-img lists too (a transport such as nbd+unix is not a driver of its own).
      const qemuDrivers = execFileSync('qemu-img', ['--help'], { encoding: 'utf8' }).match(/^Supported formats: (.*)$/m)![1]!.split(' ');
      expect(listedDrivers().filter((name) => !qemuDrivers.includes(name))).toEqual([]);
    },
  );

  it.each([['-V'], ['--version'], ['--version', 'info']])('%s prints the version', async (...args) => {
    const result = await tool(configuration, args);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`^tessera-img version \\d+\\.\\d+\\.\\d+ \\(configuration ${configuration}\\)\\n$`));
  });

  it('--list-modules reports the module list, as text or JSON', async () => {
    const human = await tool(configuration, ['--list-modules']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^block-http\s+block\s+(builtin|loadable)/m);
    for (const args of [['--list-modules', '--output=json'], ['--list-modules', '--output', 'json'], ['--output=json', '--list-modules']]) {
      const json = await tool(configuration, args);
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout) as { executable: string; configuration: string; modules: { name: string }[] };
      expect(report).toMatchObject({ executable: 'tessera-img', configuration });
      expect(report.modules.map((m) => m.name).sort()).toEqual(Object.keys(appManifest().modules).sort());
    }
    const bad = await tool(configuration, ['--list-modules', '--output=xml']);
    expect(bad).toMatchObject({ code: 1, stderr: 'tessera-img: --output must be used with human or json as argument.\n' });
  });
});

/** The image tool's declared module set (its package.json), which the compiled-in list must match. */
function appManifest(): { modules: Record<string, string> } {
  return JSON.parse(readFileSync(join(workspaceRoot, 'packages/img-tool/package.json'), 'utf8')).tessera;
}

/** Protocol and format names the listed modules provide, sorted: what the help lists. */
function listedDrivers(): string[] {
  const names = Object.keys(appManifest().modules).flatMap((module) => {
    const manifest = JSON.parse(readFileSync(join(workspaceRoot, 'packages/modules', module, 'package.json'), 'utf8')).tessera;
    // Formats and protocols are drivers; a codec (block-codec:zstd) is not.
    return (manifest.provides as string[]).filter((feature) => /^block-(format|protocol):/.test(feature)).map((feature) => feature.split(':')[1]!.split('+')[0]!);
  });
  return [...new Set(names)].sort();
}
