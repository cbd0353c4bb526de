import { describe, expect, it } from 'vitest';
import { configurations, executable, modulesDir, run } from '../../../tools/test-support/executables.ts';

interface Report {
  executable: string;
  configuration: string;
  stamp: string;
  directories: { path: string; origin: string }[];
  modules: { name: string; category: string; linkage: string; state: { status: string } }[];
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
    expect(report.directories.at(-1)!.path).toBe(modulesDir);
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
