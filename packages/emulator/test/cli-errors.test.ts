// Command-line and startup errors: QEMU's manner (`tessera: -opt arg: message`), exit 1, no boot.
import { describe, expect, it } from 'vitest';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { guest } from './support/guest.ts';

const exe = () => executable('emulator', 'modular');

async function fails(args: string[], expected: string | RegExp): Promise<string> {
  const result = await run(exe(), args, { timeoutMs: 30_000 });
  expect(result.stdout).toBe('');
  if (typeof expected === 'string') expect(result.stderr).toContain(expected);
  else expect(result.stderr).toMatch(expected);
  expect(result.code).toBe(1);
  return result.stderr;
}

describe('tessera command-line errors', () => {
  it('an unknown option', async () => {
    await fails(['-foo'], /^tessera: -foo: invalid option\n$/);
    await fails(['--bogus=1'], 'tessera: --bogus=1: invalid option');
  });

  it('a missing argument', async () => {
    await fails(['-m'], /^tessera: -m: requires an argument\n$/);
  });

  it('bad -m values', async () => {
    await fails(['-m', 'foo'], "tessera: -m foo: Parameter 'size' expects a non-negative number below 2^64");
    await fails(['-m', '12Q'], "tessera: -m 12Q: Parameter 'size'");
  });

  it('bad -drive keys and values', async () => {
    await fails(['-drive', 'file=x.img,bogus=1'], "tessera: -drive file=x.img,bogus=1: Invalid parameter 'bogus'");
    await fails(['-drive', 'file=x.img,media=tape'], "tessera: -drive file=x.img,media=tape: 'tape' invalid media");
    await fails(['-drive', 'file=x.img,readonly=maybe'], "tessera: -drive file=x.img,readonly=maybe: Parameter 'read-only' expects 'on' or 'off'");
    await fails(['-drive', 'file=x.img,if=scsi'], "tessera: -drive file=x.img,if=scsi: unsupported bus type 'scsi'");
    await fails(['-drive', 'format=raw'], 'tessera: -drive format=raw: A block device must be specified for "file"');
    await fails(['-drive', 'file=x.img,index=9'], 'tessera: -drive file=x.img,index=9: index 9 is out of range');
  });

  it('a drive whose image cannot be opened names it', async () => {
    await fails(['-drive', 'file=/nonexistent/x.img,format=raw'], "tessera: -drive file=/nonexistent/x.img,format=raw: Could not open '/nonexistent/x.img'");
    await fails(['-drive', 'file=/dev/null,format=qed9'], "tessera: -drive file=/dev/null,format=qed9: Unknown driver 'qed9'");
  });

  it('a missing BIOS', async () => {
    await fails(['-bios', '/nonexistent/bios.bin', '-kernel', guest().vmlinuz], /^tessera: could not load PC BIOS '\/nonexistent\/bios.bin': No such file or directory\n$/);
  });

  it('kernel and initrd problems', async () => {
    await fails(['-kernel', '/nonexistent/vmlinuz'], "tessera: could not open kernel file '/nonexistent/vmlinuz': No such file or directory");
    await fails(['-append', 'quiet'], 'tessera: -append only allowed with -kernel option');
    const g = guest();
    await fails(['-m', '64', '-kernel', g.vmlinuz, '-initrd', g.initrd], /tessera: could not load initial ram disk '.*': the file is too large \(\d+ bytes\): this machine loads the initrd at 64 MiB, use -m \d+ or more/);
  });

  it('unknown display and netdev types', async () => {
    await fails(['-display', 'nope', '-kernel', guest().vmlinuz], "tessera: -display nope: Parameter 'type' does not accept value 'nope'");
    await fails(['-netdev', 'nope,id=n0', '-device', 'ne2k_pci,netdev=n0', '-kernel', guest().vmlinuz], "tessera: -netdev nope,id=n0: Parameter 'type' does not accept value 'nope'");
    await fails(['-nic', 'nope', '-kernel', guest().vmlinuz], "tessera: -nic nope: Parameter 'type' does not accept value 'nope'");
    await fails(['-netdev', 'socket'], "tessera: -netdev socket: Parameter 'id' is missing");
  });

  it('-device with an unknown netdev or model', async () => {
    await fails(['-device', 'ne2k_pci,netdev=zz'], "tessera: -device ne2k_pci,netdev=zz: Property 'ne2k_pci.netdev' can't find value 'zz'");
    await fails(['-device', 'e1000,netdev=n0'], "tessera: -device e1000,netdev=n0: 'e1000' is not a valid device model name");
    await fails(['-device', 'ne2k_pci'], "tessera: -device ne2k_pci: Property 'ne2k_pci.netdev' is required");
    await fails(['-device', 'ne2k_pci,netdev=n0,mac=zz'], "tessera: -device ne2k_pci,netdev=n0,mac=zz: Property 'ne2k_pci.mac' doesn't take value 'zz'");
    await fails(['-device', 'ne2k_pci,netdev=n0,speed=9'], "tessera: -device ne2k_pci,netdev=n0,speed=9: Property 'ne2k_pci.speed' not found");
  });

  it('-serial with an unknown backend', async () => {
    await fails(['-serial', 'bogus'], "tessera: -serial bogus: 'bogus' is not a valid char driver");
  });

  it('-help lists the machine options', async () => {
    const help = await run(exe(), ['-help']);
    expect(help.code).toBe(0);
    for (const option of ['-drive', '-kernel', '-snapshot', '-display', '-netdev', '-nographic']) expect(help.stdout).toContain(option);
  });
});
