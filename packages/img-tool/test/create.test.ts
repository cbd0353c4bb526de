// `create`: the same messages as qemu-img, and files qemu-img sees as it sees its own.
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, allocatedBytes, both, configurations, qemuInfo, tempDir, tool, twinDirs, type Configuration } from './helpers.ts';

/** Sizes qemu-img accepts, in the spellings its size parser allows. */
const GOOD_SIZES = [
  '0', '100', '512', '1023b', '5B', '1k', '1K', '1.5k', '1.k', '1.0', '0.1k', '1.2345678k', '3.3M', '1M',
  '00001M', '010', '+5', ' 5', '0x10', '0x1E', '1.9999999999999999k', '1.99999999999999999k', '2G', '5t',
];

/** Sizes it refuses, or cannot create. */
const BAD_SIZES = [
  '1x', 'abc', '', '1.5', '0.5b', '.5k', '1e3', '1.5e3k', '5kb', '5KiB', '1 k', '1k ', '0x', '0x1.8k', '1,5k',
  '9223372036854775808', '18446744073709551616', '16E', '8E', '1P', '8191P', '9223372036854775807',
];

describe.each(configurations)('create (%s)', (configuration: Configuration) => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    await mkdir(join(fixture, 'subdir'));
  });

  /** Run in twin dirs; same output and exit code; then qemu-img sees our file as its own. */
  async function sameAsQemu(args: string[], file?: string): Promise<void> {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    if (file === undefined || qemu.code !== 0) return;
    const [theirs, mine] = await Promise.all([qemuInfo(join(dirs.qemu, file)), qemuInfo(join(dirs.ours, file))]);
    expect(mine['virtual-size']).toBe(theirs['virtual-size']);
    expect(mine['actual-size']).toBe(theirs['actual-size']);
    expect((await stat(join(dirs.ours, file))).size).toBe((await stat(join(dirs.qemu, file))).size);
  }

  it.each(GOOD_SIZES)('size %j', (size) => sameAsQemu(['create', 'x.raw', size], 'x.raw'));

  it.each(BAD_SIZES)('bad size %j', (size) => sameAsQemu(['create', 'x.raw', size]));

  it('hex with a multiplier is accepted with a deprecation warning', () => sameAsQemu(['create', 'x.raw', '0x10k'], 'x.raw'));

  it.each([
    [['create', '-f', 'raw', 'x.raw', '1M']],
    [['create', '-q', 'x.raw', '1M']],
    [['create', '-qf', 'raw', 'x.raw', '1M']],
    [['create', '-o', 'size=2M', 'x.raw']],
    [['create', '-o', 'size=1M,size=2M', 'x.raw']],
    [['create', '-o', 'size=1M', '-o', 'size=3M', 'x.raw']],
    [['create', '-o', 'size=0x10', 'x.raw']],
    [['create', '-o', 'size=1.5k', 'x.raw']],
    [['create', '-o', 'preallocation=full', 'x.raw', '1M']],
    [['create', '-o', 'preallocation=falloc,size=64k', 'x.raw']],
    [['create', '-o', 'nocow=on,preallocation=off', 'x.raw', '1M']],
    [['create', '-o', 'preallocation=full,nocow=on,extent_size_hint=1M', 'x.raw', '1M']],
    [['create', '-u', 'x.raw', '1M']],
    [['create', '--', 'x.raw', '1M']],
  ])('%j: same output, same file', (args) => sameAsQemu(args, 'x.raw'));

  it.each([
    [['create']],
    [['create', 'x.raw']],
    [['create', 'x.raw', '1M', 'extra']],
    [['create', 'x.raw', '-1']],
    [['create', '--', 'x.raw', '-1']],
    [['create', '-f', 'foo', 'x.raw', '1M']],
    [['create', '-f', 'foo', '-o', 'help']],
    [['create', '-o', 'size=2M', 'x.raw', '1M']],
    [['create', '-o', 'foo=bar', 'x.raw', '1M']],
    [['create', '-o', '', 'x.raw', '1M']],
    [['create', '-o', ',size=1M', 'x.raw']],
    [['create', '-o', 'size=1M,', 'x.raw']],
    [['create', '-o', 'size=abc', 'x.raw']],
    [['create', '-o', 'size=-1', 'x.raw']],
    [['create', '-o', 'size=16E', 'x.raw']],
    [['create', '-o', 'size=1M,,,x=y', 'x.raw']],
    [['create', '-o', 'size', 'x.raw']],
    [['create', '-o', 'preallocation=foo', 'x.raw', '1M']],
    [['create', '-o', 'nocow=maybe', 'x.raw', '1M']],
    [['create', '-o', 'nocow', 'x.raw', '1M']],
    [['create', '-o', 'extent_size_hint=x', 'x.raw', '1M']],
    [['create', '-b', 'base.raw', 'x.raw', '1M']],
    [['create', '-F', 'raw', 'x.raw', '1M']],
    [['create', 'no/such/dir/x.raw', '1M']],
    [['create', 'subdir', '1M']],
    [['create', 'http://127.0.0.1:9/x.raw', '1M']],
  ])('%j: same error and exit code', (args) => sameAsQemu(args));

  it.each([
    [['create', '-o', 'help']],
    [['create', '-o', '?']],
    [['create', '-f', 'raw', '-o', 'help']],
    [['create', '-o', 'help', 'x.raw']],
    [['create', '-q', '-o', 'size=1M,help', 'x.raw']],
  ])('%j: same option help', (args) => sameAsQemu(args));

  // Options of a format with more of them: values checked by core against the driver's schema
  // (numbers as strtoull reads them), its printed defaults, then the file protocol's options.
  it.each([
    [['create', '-f', 'qcow2', '-o', 'nocow=on,extent_size_hint=1M,refcount_bits=0x10', 'x.qcow2', '1M']],
    [['create', '-f', 'qcow2', '-o', 'refcount_bits=abc', 'x.qcow2', '1M']],
    [['create', '-f', 'qcow2', '-o', 'lazy_refcounts=maybe', 'x.qcow2', '1M']],
  ])('%j: the same Formatting line or refusal', (args) => sameAsQemu(args));

  it('the new file is sparse except for its first block', async () => {
    const dir = await tempDir();
    const ours = await tool(configuration, ['create', 'x.raw', '64M'], dir);
    expect(ours).toEqual({ code: 0, stdout: `Formatting 'x.raw', fmt=raw size=${64 * MiB}\n`, stderr: '' });
    expect(await allocatedBytes(join(dir, 'x.raw'))).toBeLessThanOrEqual(64 * 1024);
  });
});
