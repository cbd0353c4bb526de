// Real boots of the test guest (tools/guest) on the built executables. Boots are slow (20-50 s,
// more under load) and use both cores: they run one after another, all in this file.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configurations, executable, modulesDir, run } from '../../../tools/test-support/executables.ts';
import { boot, BOOT_TIMEOUT_MS, markers } from './support/boot.ts';
import { diskCopy, fatFile, kernelArgs } from './support/guest.ts';

const modular = () => executable('emulator', 'modular');
/** The marker test without kernel modules: the shortest boot that still reaches /init. */
const quickBoot = () => kernelArgs('marker', 'tessera.modules=none');

describe.sequential('tessera boots the test guest', () => {
  it.each(configurations)('-kernel/-initrd/-append to the marker, exit 0 at the guest power-off (%s)', async (configuration) => {
    // The modular run loads the guest's modules (ne2k-pci among them) to see the NIC's MAC.
    const args = configuration === 'modular' ? kernelArgs('marker') : quickBoot();
    const result = await boot(executable('emulator', configuration), ['-nographic', ...args]);
    expect(markers(result.stdout)).toEqual(expect.arrayContaining(['booted', 'test marker done', 'poweroff']));
    if (configuration === 'modular') expect(result.stdout).toMatch(/eth0: RealTek RTL-8029\(AS\) found at .*, 52:54:00:12:34:56\./);
    expect(markers(result.stdout).at(-1)).toBe('poweroff');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    console.log(`${configuration} kernel boot to power-off: ${result.seconds.toFixed(1)} s`);
  }, BOOT_TIMEOUT_MS);

  it('boots from a disk image through the block layer; guest reads and writes the image', async () => {
    const image = diskCopy();
    expect(fatFile(image, 'guest.txt')).toBeUndefined();
    const result = await boot(modular(), ['-m', '128', '-display', 'none', '-serial', 'stdio', '-drive', `file=${image},format=raw,if=ide`]);
    const seen = markers(result.stdout);
    expect(seen).toContain('host.txt=tessera-host-file-ok');
    expect(seen).toContain('disk done');
    expect(seen.some((m) => m.startsWith('error'))).toBe(false);
    expect(result.code).toBe(0);
    expect(fatFile(image, 'guest.txt')?.trim()).toBe('tessera-guest-wrote-this');
    console.log(`disk boot to power-off: ${result.seconds.toFixed(1)} s`);
  }, BOOT_TIMEOUT_MS);

  it.each([
    ['-snapshot', (image: string) => ['-snapshot', '-hda', image]],
    ['snapshot=on', (image: string) => ['-drive', `file=${image},format=raw,snapshot=on`]],
  ])('%s keeps the image byte-identical while the guest writes', async (_name, args) => {
    const image = diskCopy();
    const before = readFileSync(image);
    const result = await boot(modular(), ['-nographic', ...args(image)]);
    const seen = markers(result.stdout);
    // The guest did write (into the overlay): its test passed.
    expect(seen).toContain('host.txt=tessera-host-file-ok');
    expect(seen).toContain('disk done');
    expect(result.code).toBe(0);
    expect(readFileSync(image).equals(before)).toBe(true);
  }, BOOT_TIMEOUT_MS);

  it('a read-only drive refuses guest writes with an ATA error, and the image stays unchanged', async () => {
    const image = diskCopy();
    const before = readFileSync(image);
    const result = await boot(modular(), ['-nographic', '-drive', `file=${image},format=raw,if=ide,readonly=on`]);
    // The guest reads fine but its writes fail at the device: libata logs the aborted command.
    expect(markers(result.stdout)).toContain('host.txt=tessera-host-file-ok');
    expect(result.stdout).toMatch(/ata1\.00: .*(failed command: WRITE|error: \{ ABRT \})|I\/O error, dev sda/);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(readFileSync(image).equals(before)).toBe(true);
  }, BOOT_TIMEOUT_MS);

  it('the sector-0 attack: a guest writing a qcow2 header (backing file: a host file) to its disk opened without format= is refused; the machine goes on, the disk stays raw', async () => {
    const image = diskCopy();
    const dir = mkdtempSync(join(tmpdir(), 'tessera-sector0-'));
    const secret = join(dir, 'secret.txt');
    writeFileSync(secret, 'tessera-host-secret\n');
    const evil = join(dir, 'evil.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', '-b', secret, '-F', 'raw', evil, '64M']);
    const header = readFileSync(evil).subarray(0, 512);
    let end = header.length;
    while (end > 0 && header[end - 1] === 0) end--;
    const octal = [...header.subarray(0, end)].map((byte) => `\\${byte.toString(8).padStart(3, '0')}`).join('');
    const commands = [
      'while [ ! -b /dev/sda ]; do usleep 100000; done',
      `printf '${octal}' >/tmp/header`,
      'dd if=/tmp/header of=/dev/sda bs=512 count=1 conv=fsync 2>/dev/null; echo "TESSERA-GUEST: attack written rc=$?"; sync',
      'exit',
    ];
    const before = readFileSync(image);
    const result = await boot(modular(), ['-nographic', '-drive', `file=${image},if=ide`, ...kernelArgs('shell')], {
      when: { text: 'TESSERA-GUEST: shell', then: (stdin) => stdin.write(commands.join('\n') + '\n') },
    });
    const seen = markers(result.stdout);
    // The refused write failed at the disk, as on a real one: the guest's dd saw an I/O error
    // (its DMA write ended with ERR/ABRT), and the machine went on: the shell finished, power-off.
    expect(seen).toEqual(expect.arrayContaining(['test shell done', 'poweroff']));
    expect(seen.find((m) => m.startsWith('attack written rc='))).toMatch(/^attack written rc=[1-9]/);
    expect(result.stdout).toMatch(/I\/O error, dev sda, sector 0 op 0x1:\(WRITE\)/);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`WARNING: Image format was not specified for '${image}' and probing guessed raw.`);
    expect(result.stderr).toMatch(/warning: -drive file=.*: guest write refused \(further refusals on this drive are not reported\): Operation not permitted: the write would make the first sector of '.*' look like a qcow2 image/);
    // Sector 0 (the whole disk) is as before, so the next start opens it as raw, no backing file.
    expect(readFileSync(image).equals(before)).toBe(true);
    const info = await run(executable('img-tool', 'modular'), ['info', '--output=json', image]);
    const described = JSON.parse(info.stdout) as Record<string, unknown>;
    expect(described.format).toBe('raw');
    expect(described['backing-filename']).toBeUndefined();
  }, BOOT_TIMEOUT_MS);

  it('Ctrl-a x quits with exit 0', async () => {
    const result = await boot(modular(), ['-nographic', ...quickBoot()], {
      when: { text: 'TESSERA-GUEST: booted', then: (stdin) => stdin.write(Buffer.from([0x01, 0x78])) },
    });
    expect(markers(result.stdout)).toContain('booted');
    expect(markers(result.stdout)).not.toContain('poweroff'); // it quit before the guest finished
    expect(result.stderr).toContain('Terminated');
    expect(result.code).toBe(0);
  }, BOOT_TIMEOUT_MS);

  it('a tampered ui-web module is refused for -display web; -display none still boots with that module dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-modules-'));
    cpSync(modulesDir, dir, { recursive: true });
    const file = join(dir, 'ui-web.cjs');
    writeFileSync(file, readFileSync(file, 'utf8') + '\n// tampered\n');
    const env = { TESSERA_MODULE_DIR: dir };

    const refused = await boot(modular(), ['-display', 'web', ...quickBoot()], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tessera: -display web: module ui-web \(.*\) refused: its contents changed after the build/);
    expect(refused.stdout).toBe(''); // refused before the machine started

    const headless = await boot(modular(), ['-display', 'none', '-serial', 'stdio', ...quickBoot()], { env });
    expect(markers(headless.stdout)).toContain('poweroff');
    expect(headless.code).toBe(0);
  }, BOOT_TIMEOUT_MS * 2);
});
