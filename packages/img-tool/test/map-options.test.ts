// `map` option values: qemu-img's messages and exit codes for bad offsets and lengths.
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, tempDir, type Configuration } from './helpers.ts';

describe.each(configurations)('map options (%s)', (configuration: Configuration) => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    execFileSync('qemu-img', ['create', '-f', 'qcow2', 'a.qcow2', '1M'], { cwd: dir, stdio: 'ignore' });
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 64k 64k', 'a.qcow2'], { cwd: dir, stdio: 'ignore' });
  });

  it.each([
    [['--start-offset=x']],
    [['--start-offset=-1']],
    [['--start-offset=99999999999999999999']],
    [['--start-offset=2M']],
    [['--start-offset=64k', '--max-length=100k']],
    [['--max-length=x']],
    [['--max-length=0']],
    [['--output=json', '--start-offset=1k']],
  ])('%j: as qemu-img', async (options) => {
    const { qemu, ours } = await both(configuration, ['map', ...options, 'a.qcow2'], dir);
    expect(ours).toEqual(qemu);
  });
});
