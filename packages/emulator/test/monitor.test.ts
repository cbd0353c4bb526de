// The human monitor end to end: `-monitor stdio` with the same commands on qemu-system-i386 and
// tessera (outputs compared line for line), and one booted guest with `-serial mon:stdio`, where
// Ctrl-a c switches the terminal between the guest's COM1 and the monitor, and QMP on a
// -chardev socket (TCP) + -mon: the guest's text screen dumped, system_powerdown pressing its ACPI
// power button (the guest powers off: SHUTDOWN), the same press on qemu-system-i386.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { OptionError } from '../src/cli/errors.ts';
import { parseCommandLine } from '../src/cli/parse.ts';
import type { MachineConfig } from '../src/machine/config.ts';
import { JsonStream } from '../src/monitor/json-stream.ts';
import { BOOT_TIMEOUT_MS, markers } from './support/boot.ts';
import { kernelArgs } from './support/guest.ts';
import { decodePng, decodePpm, litPixels, untilBiosText } from './support/images.ts';
import { MachineProcess } from './support/machine-process.ts';
import { RawQmp } from './support/qmp-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-monitor-test-'));
const cdImage = join(dir, 'cd.iso');
writeFileSync(cdImage, Buffer.alloc(16 * 2048));
const PROMPT = '(qemu) ';

/** Type one command and return what the monitor answered (up to the next prompt). */
async function command(machine: MachineProcess, line: string, from: number): Promise<{ output: string; next: number }> {
  machine.write(`${line}\n`);
  const next = await machine.waitFor(PROMPT, 30_000, from);
  // The echo of the line (QEMU redraws it key by key with escape sequences) ends at the first CR LF.
  const answer = machine.stdout.slice(from, next - PROMPT.length);
  const lineEnd = answer.indexOf('\r\n');
  return { output: lineEnd < 0 ? '' : answer.slice(lineEnd + 2), next };
}

describe('monitor options', () => {
  const machine = (...args: string[]): MachineConfig => {
    const command = parseCommandLine(args);
    if (command.kind !== 'run') throw new Error(command.kind);
    return command.machine;
  };
  const refusal = (...args: string[]) => {
    try {
      parseCommandLine(args);
    } catch (error) {
      if (error instanceof OptionError) return `${error.where}${error.message}`;
      throw error;
    }
    return 'accepted';
  };

  it("reads QEMU's forms: -qmp unix:/tcp:, -chardev socket + -mon, -monitor stdio, -serial mon:stdio, -nographic", () => {
    expect(machine('-qmp', 'unix:/run/q.sock,server=on,wait=off').monitors).toEqual([
      { mode: 'control', label: 'compat_monitor0', endpoint: { kind: 'unix', path: '/run/q.sock' }, origin: '-qmp unix:/run/q.sock,server=on,wait=off' },
    ]);
    expect(machine('-qmp', 'tcp:localhost:4444,server,nowait').monitors[0]!.endpoint).toEqual({ kind: 'tcp', host: 'localhost', port: 4444 });
    // -mon may come before its -chardev.
    const mon = machine('-mon', 'chardev=c0,mode=control', '-chardev', 'socket,id=c0,host=127.0.0.1,port=5555,server=on,wait=off');
    expect(mon.monitors).toEqual([{ mode: 'control', label: 'c0', endpoint: { kind: 'tcp', host: '127.0.0.1', port: 5555 }, origin: '-mon chardev=c0,mode=control' }]);
    // A monitor alone on stdio takes the terminal from COM1; mon:stdio and -nographic share it.
    expect(machine('-monitor', 'stdio')).toMatchObject({ serial: { kind: 'none' }, monitors: [{ mode: 'readline', endpoint: { kind: 'stdio' } }] });
    expect(machine('-serial', 'mon:stdio')).toMatchObject({ serial: { kind: 'stdio', monitor: true }, monitors: [{ mode: 'readline', endpoint: { kind: 'mux-stdio' } }] });
    expect(machine('-nographic')).toMatchObject({ serial: { kind: 'stdio', monitor: true }, monitors: [{ endpoint: { kind: 'mux-stdio' } }] });
    // -nodefaults: no default monitor (and no default COM1), as QEMU.
    expect(machine('-nographic', '-nodefaults')).toMatchObject({ serial: { kind: 'none' }, monitors: [] });
    // mon:stdio is one of -serial's backends: given once, refused with -daemonize as stdio is.
    expect(refusal('-serial', 'mon:stdio', '-serial', 'file:/tmp/x')).toBe('-serial file:/tmp/x: this machine has one serial port (COM1): give -serial once');
    expect(refusal('-serial', 'mon:stdio', '-daemonize')).toBe('-serial mon:stdio: cannot use stdio with -daemonize');
    expect(machine('-nographic', '-serial', 'stdio').monitors).toEqual([]);
    expect(machine('-display', 'none').monitors).toEqual([]);
  });

  it("refuses what it cannot do with QEMU's messages, or says what to add", () => {
    expect(refusal('-mon', 'chardev=nope')).toBe('-mon chardev=nope: chardev "nope" not found');
    expect(refusal('-monitor', 'stdio', '-serial', 'stdio')).toBe('-serial stdio: cannot use stdio by multiple character devices');
    expect(refusal('-qmp', 'bogus:x')).toBe("-qmp bogus:x: 'bogus:x' is not a valid char driver");
    expect(refusal('-chardev', 'socket,path=/tmp/x')).toBe('-chardev socket,path=/tmp/x: chardev: no id specified');
    expect(refusal('-mon', 'chardev=c,mode=bad')).toBe("-mon chardev=c,mode=bad: Parameter 'mode' does not accept value 'bad'");
    expect(refusal('-qmp', 'unix:/tmp/q')).toBe('-qmp unix:/tmp/q: a monitor socket must be a listening one here: add server=on,wait=off');
    expect(refusal('-qmp', 'unix:/tmp/q,server=on')).toBe('-qmp unix:/tmp/q,server=on: waiting for a monitor client before the machine starts is not supported: add wait=off');
    expect(refusal('-qmp', 'tcp:127.0.0.1:x,server=on,wait=off')).toBe("-qmp tcp:127.0.0.1:x,server=on,wait=off: port 'x' is not a valid TCP port");
    expect(refusal('-serial', 'mon:stdio', '-monitor', 'stdio')).toBe('-monitor stdio: cannot use stdio by multiple character devices');
  });
});

describe('QMP framing', () => {
  it('splits messages by balanced braces (no newline needed), resynchronises after garbage, bounds what it holds', () => {
    const messages: string[] = [];
    const strays: string[] = [];
    const stream = new JsonStream((m) => messages.push(m), (s) => strays.push(s));
    stream.push('{"execute":"a"}{"execute":"b","arguments":{"x":"}{"}}');
    stream.push('  garbage here\n{"execute"');
    stream.push(':"c"}\n');
    expect(messages).toEqual(['{"execute":"a"}', '{"execute":"b","arguments":{"x":"}{"}}', '{"execute":"c"}']);
    expect(strays).toEqual(['garbage here\n']);
    stream.push(`{"x":"${'y'.repeat(2 << 20)}"}\n{"execute":"d"}`);
    expect(messages.at(-1)).toBe('{"execute":"d"}');
    expect(strays.at(-1)!.length).toBeLessThanOrEqual(65);
  });
});

const SCRIPT = [
  'info status',
  'stop',
  'info status',
  'cont',
  'info status',
  'eject no-such-device',
  `change ide1-cd0 ${join(dir, 'missing.iso')}`,
  `change ide1-cd0 ${cdImage}`,
  'info block',
  'eject ide1-cd0',
  'info block',
  'screendump',
  `screendump ${join(dir, 'missing-dir', 'x.ppm')}`,
  'no-such-command',
  'info no-such-thing',
  'info version',
  'system_reset',
];

describe('-S -serial mon:stdio, input typed before the machine is up', () => {
  // Piped input arrives at once, while v86 still loads: it must wait for the machine and its
  // monitor, not be lost. -S: nothing boots, the CPU never runs.
  it('reaches the monitor in order: Ctrl-a c, info status (prelaunch), cont, info status, quit', async () => {
    const machine = MachineProcess.tessera(executable('emulator', 'modular'), ['-S', '-serial', 'mon:stdio', '-display', 'none', '-m', '32'], 30_000);
    try {
      machine.write('\x01cinfo status\ncont\ninfo status\nquit\n');
      expect(await machine.exited).toBe(0);
      expect(machine.stdout).toMatch(/VM status: paused \(prelaunch\)\r\n[^]*\(qemu\) cont\r\n[^]*VM status: running\r\n/);
    } finally {
      machine.kill();
    }
  }, 60_000);
});

describe.sequential('-monitor stdio, the same commands on qemu-system-i386 and tessera', () => {
  const outputs: Record<string, string[]> = {};
  const exits: Record<string, number | null> = {};
  const banners: Record<string, string> = {};

  beforeAll(async () => {
    for (const name of ['qemu', 'tessera'] as const) {
      const args = ['-display', 'none', '-m', '64', '-monitor', 'stdio'];
      const machine = name === 'qemu' ? new MachineProcess('qemu-system-i386', args, 120_000) : MachineProcess.tessera(executable('emulator', 'modular'), args, 120_000);
      try {
        let at = await machine.waitFor(PROMPT, 60_000);
        banners[name] = machine.stdout.slice(0, at);
        // The BIOS reaches its text screen (unrecorded screendumps until it has).
        await untilBiosText(async (file) => void ({ next: at } = await command(machine, `screendump ${file}`, at)), join(dir, `${name}.ppm`));
        ({ next: at } = await command(machine, `screendump ${join(dir, `${name}.ppm`)}`, at));
        ({ next: at } = await command(machine, `screendump ${join(dir, `${name}.png`)} -f png`, at));
        outputs[name] = [];
        for (const line of SCRIPT) {
          const result = await command(machine, line, at);
          outputs[name].push(result.output);
          at = result.next;
        }
        machine.write('quit\n');
        exits[name] = await machine.exited;
      } finally {
        machine.kill();
      }
    }
  }, 240_000);

  it("answers as QEMU's monitor does, line for line", () => {
    const normalize = (name: string) =>
      outputs[name]!.map((output, i) => {
        if (SCRIPT[i] === 'info version') return /^\d+\.\d+\.\d+/.test(output) ? 'a version number' : output;
        // QEMU's pc machine has more block devices (floppy0, sd0) after the CD-ROM; node names are counters.
        if (SCRIPT[i] === 'info block') return output.split('\r\n\r\n')[0]!.replace(/#block\d+/, '#blockN').replace(/\r\n$/, '');
        return output;
      });
    expect(normalize('tessera')).toEqual(normalize('qemu'));
    // And the answers are the ones that mean something (not two empty lists).
    const ours = outputs.tessera!;
    expect(ours.slice(0, 5)).toEqual(['VM status: running\r\n', '', 'VM status: paused\r\n', '', 'VM status: running\r\n']);
    expect(ours[8]).toBe(`ide1-cd0 (#block1): ${cdImage} (raw, read-only)\r\n    Attached to:      /machine/unattached/device[23]\r\n    Removable device: not locked, tray closed\r\n    Cache mode:       writeback\r\n`);
    expect(ours[10]).toBe('ide1-cd0: [not inserted]\r\n    Attached to:      /machine/unattached/device[23]\r\n    Removable device: not locked, tray open\r\n');
    expect(ours[11]).toBe('screendump: filename expected\r\nTry "help screendump" for more information\r\n');
    expect(ours[15]).toMatch(/^7\.2\.0 \(tessera \d+\.\d+\.\d+, build stamp [0-9a-f]{12}\)\r\n$/); // info version: the QEMU matched, then tessera
  });

  it('greets with the banner and prompt; quit exits 0', () => {
    expect(banners.tessera).toMatch(/^tessera \d+\.\d+\.\d+ monitor - type 'help' for more information\r\n\(qemu\) $/);
    expect(exits).toEqual({ qemu: 0, tessera: 0 });
  });

  it('screendump writes the text screen as PPM and PNG (720x400)', () => {
    const ppm = decodePpm(readFileSync(join(dir, 'tessera.ppm')));
    const png = decodePng(readFileSync(join(dir, 'tessera.png')));
    expect([ppm.width, ppm.height, png.width, png.height]).toEqual([720, 400, 720, 400]);
    expect(litPixels(ppm, 0, 16)).toBeGreaterThan(200); // SeaBIOS's banner
    for (const name of ['qemu', 'tessera']) expect(litPixels(decodePpm(readFileSync(join(dir, `${name}.ppm`))))).toBeGreaterThan(0);
  });
});

/** A free TCP port on loopback. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.sequential('a booted guest: -serial mon:stdio (Ctrl-a c) and QMP on -chardev socket,host=,port= + -mon', () => {
  let machine: MachineProcess;
  let qmp: RawQmp;

  beforeAll(async () => {
    const port = await freePort();
    // Kernel messages go to the VGA text screen and COM1; the guest then reads a line from COM1
    // and waits for its ACPI power button before powering off.
    const args = kernelArgs('echo', 'tessera.modules=none tessera.poweroff=button console=tty0 console=ttyS0');
    const qmpArgs = ['-chardev', `socket,id=qmp0,host=127.0.0.1,port=${port},server=on,wait=off`, '-mon', 'chardev=qmp0,mode=control'];
    // -machine acpi=on: the power button (ACPI is off by default here, see the README).
    machine = MachineProcess.tessera(executable('emulator', 'static'), ['-display', 'none', '-m', '128', '-machine', 'pc,acpi=on', '-serial', 'mon:stdio', ...qmpArgs, ...args], BOOT_TIMEOUT_MS - 10_000);
    ({ client: qmp } = await RawQmp.open({ host: '127.0.0.1', port }));
    expect(await qmp.execute('qmp_capabilities')).toEqual({ return: {}, id: 'qmp_capabilities' });
    await machine.waitFor('TESSERA-GUEST: echo ready', BOOT_TIMEOUT_MS - 30_000);
  }, BOOT_TIMEOUT_MS);

  afterAll(() => machine?.kill());

  it("QMP screendump (PNG) shows the kernel's messages on the text screen", async () => {
    const file = join(dir, 'guest.png');
    expect(await qmp.execute('screendump', { filename: file, format: 'png' })).toEqual({ return: {}, id: 'screendump' });
    const png = decodePng(readFileSync(file));
    expect([png.width, png.height]).toEqual([720, 400]);
    // The log has scrolled over the whole screen: text on most of the 25 rows.
    const rowsWithText = Array.from({ length: 25 }, (_, row) => litPixels(png, row * 16, row * 16 + 16)).filter((n) => n > 50).length;
    expect(rowsWithText).toBeGreaterThan(15);
  });

  it('the monitor answers while the guest waits, its commands never reach the guest; system_powerdown presses the power button: the guest powers off, SHUTDOWN, exit 0', async () => {
    let at = machine.stdout.length;
    machine.write('\x01c'); // to the monitor
    at = await machine.waitFor(PROMPT, 30_000, at);
    expect(machine.stdout.slice(0, at)).toMatch(/monitor - type 'help' for more information\r\n\(qemu\) $/);
    let result = await command(machine, 'info status', at);
    expect(result.output).toBe('VM status: running\r\n');
    result = await command(machine, 'stop', result.next);
    result = await command(machine, 'info status', result.next);
    expect(result.output).toBe('VM status: paused\r\n');
    result = await command(machine, 'cont', result.next);
    expect((await qmp.event('STOP')).event).toBe('STOP'); // the human monitor's stop, seen on QMP
    await qmp.event('RESUME');
    at = result.next;
    machine.write('\x01h');
    at = await machine.waitFor('C-a c    switch between console and monitor', 10_000, at);
    machine.write('\x01c'); // back to the guest's COM1
    machine.write('from-the-test\n');
    // The guest loads the ACPI button driver, which enables PWRBTN_EN, and waits for a press.
    at = await machine.waitFor('TESSERA-GUEST: powerbutton ready', 60_000, at);
    expect(machine.stdout).toContain('ACPI: button: Power Button [PWRF]');
    expect(await qmp.execute('system_powerdown')).toEqual({ return: {}, id: 'system_powerdown' });
    expect((await qmp.event('POWERDOWN')).data).toBeUndefined();
    const shutdown = await qmp.event('SHUTDOWN', 60_000);
    expect(shutdown.data).toEqual({ guest: true, reason: 'guest-shutdown' });
    expect(shutdown.timestamp).toEqual({ seconds: expect.any(Number), microseconds: expect.any(Number) });
    await qmp.closedByServer();
    expect(await machine.exited).toBe(0);
    // The guest's ACPI soft-off (S5) ended the machine, not the halt watch (no `System halted`).
    expect(machine.stdout).toContain('ACPI: PM: Preparing to enter system sleep state S5');
    expect(markers(machine.stdout)).toEqual(expect.arrayContaining(['echo=from-the-test', 'powerbutton pressed', 'poweroff']));
    expect(machine.stderr).toBe('');
  }, 120_000);
});

describe('system_powerdown on qemu-system-i386: the same guest, the same answer', () => {
  // What the tessera boot above is compared with: QEMU's pc machine presses the ACPI power button
  // the same way; the guest reacts and powers off; the events are the same.
  it('POWERDOWN, the guest sees the press and powers off, SHUTDOWN guest-shutdown, exit 0', async () => {
    const socket = join(dir, 'qemu-powerdown.qmp');
    const args = kernelArgs('marker', 'tessera.modules=none tessera.poweroff=button');
    const qemu = new MachineProcess('qemu-system-i386', ['-display', 'none', '-m', '128', '-serial', 'stdio', '-qmp', `unix:${socket},server=on,wait=off`, ...args], 100_000);
    try {
      const { client } = await RawQmp.open({ path: socket });
      await client.execute('qmp_capabilities');
      await qemu.waitFor('TESSERA-GUEST: powerbutton ready', 90_000);
      expect(await client.execute('system_powerdown')).toEqual({ return: {}, id: 'system_powerdown' });
      expect((await client.event('SHUTDOWN', 60_000)).data).toEqual({ guest: true, reason: 'guest-shutdown' });
      expect(client.events.map((e) => e.event)).toEqual(['POWERDOWN', 'SHUTDOWN']);
      expect(await qemu.exited).toBe(0);
      expect(markers(qemu.stdout)).toEqual(expect.arrayContaining(['powerbutton pressed', 'poweroff']));
    } finally {
      qemu.kill();
    }
  }, 120_000);
});
