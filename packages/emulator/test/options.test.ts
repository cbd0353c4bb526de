// QEMU's everyday options as a person sees them: messages (qemu-system-i386 as the oracle where it
// refuses the same thing), exit codes, files written. Machines that must run boot a one-sector
// floppy guest (support/floppy-guest.ts), about a second each, instead of Linux.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { ReadStream } from 'node:tty';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run } from '../../../tools/test-support/executables.ts';
import { floppyGuest, HELLO } from './support/floppy-guest.ts';
import { RawQmp } from './support/qmp-client.ts';

const exe = () => executable('emulator', 'modular');
/** A floppy as -drive with its format named (no probing warning on stderr). */
const floppy = (image: string) => ['-drive', `if=floppy,file=${image},format=raw`];
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-options-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error line(s) of a refused command line, without the program name. */
async function tesseraRefuses(args: readonly string[]): Promise<string> {
  const result = await run(exe(), args, { timeoutMs: 30_000 });
  expect(result.stdout).toBe('');
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr.startsWith('tessera: ')).toBe(true);
  return result.stderr.replace(/^tessera: /gm, '');
}

/** qemu-system-i386's error for the same (with -nodefaults and no display, unless -nographic is the point). */
function qemuRefuses(args: readonly string[]): string {
  const defaults = args.includes('-nographic') ? [] : ['-display', 'none', '-nodefaults'];
  const result = spawnSync('qemu-system-i386', [...defaults, ...args], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  expect(result.status, result.stderr).toBe(1);
  return result.stderr.replace(/^qemu-system-i386: /gm, '');
}

// Concurrent: each case is two short process runs, no machine.
describe.concurrent('refused values: what qemu-system-i386 says, or what this machine supports', () => {
  it.each([
    [['-vga', 'foo'], 'unknown vga type: foo'],
    [['-machine', 'foo'], 'unsupported machine type'],
    [['-M', 'foo'], 'Use -machine help to list supported machines'],
    [['-cpu', 'foo'], "unable to find CPU model 'foo'"],
    [['-machine', 'pc,acpi=maybe'], "Parameter 'acpi' does not accept value 'maybe'"],
    [['-smp', 'foo'], "Parameter 'smp.cpus' expects integer"],
    [['-smp', '1,foo=1'], "Parameter 'smp.foo' is unexpected"],
    [['-name', 'foo,bogus=1'], "-name foo,bogus=1: Invalid parameter 'bogus'"],
    [['-serial', 'foo:bar'], "-serial foo:bar: 'foo:bar' is not a valid char driver"],
    [['-daemonize', '-nographic'], '-nographic cannot be used with -daemonize'],
    [['-daemonize', '-serial', 'stdio'], '-serial stdio: cannot use stdio with -daemonize'],
    [['-pidfile', '/nonexistent/x.pid'], "cannot create PID file: Could not create '/nonexistent/x.pid': No such file or directory"],
    [['-fda', '/nonexistent/a.img'], "-fda /nonexistent/a.img: Could not open '/nonexistent/a.img': No such file or directory"],
    [['-drive', 'if=floppy,file=/nonexistent/a.img'], "-drive if=floppy,file=/nonexistent/a.img: Could not open '/nonexistent/a.img': No such file or directory"],
    [['-serial', 'file:/nonexistent/x'], "-serial file:/nonexistent/x: Could not open '/nonexistent/x': No such file or directory"],
    [['-serial', 'tcp:127.0.0.1:1'], "-serial tcp:127.0.0.1:1: Failed to connect to '127.0.0.1:1': Connection refused"],
    [['-serial', 'unix:/nonexistent/x.sock'], "-serial unix:/nonexistent/x.sock: Failed to connect to '/nonexistent/x.sock': No such file or directory"],
    [['-netdev', 'user'], "-netdev user: Parameter 'id' is missing"],
  ])('%j: both refuse with "%s"', async (args, text) => {
    expect(qemuRefuses(args)).toContain(text);
    expect(await tesseraRefuses(args)).toContain(text);
  });

  // QEMU runs these; this machine cannot be what they ask, and says what it is instead.
  it.each([
    [['-vga', 'cirrus'], "-vga cirrus: vga type 'cirrus' is not available: v86's VGA is QEMU's std (Bochs VBE); use -vga std"],
    [['-vga', 'none'], "-vga none: vga type 'none' is not available: v86's VGA cannot be removed; use -vga std"],
    [['-M', 'q35'], "-M q35: unsupported machine type 'q35': this machine is pc (i440FX + PIIX, what v86 emulates)\nUse -machine help"],
    [['-machine', 'pc,accel=kvm'], "accelerator 'kvm' is not available: this machine emulates in software (v86); use accel=tcg"],
    [['-machine', 'pc,usb=on'], "-machine pc,usb=on: Property 'pc-i440fx-7.2-machine.usb' not found"],
    [['-cpu', 'qemu64'], "-cpu qemu64: CPU model 'qemu64' is not available: this machine emulates one 32-bit x86 CPU (v86, Pentium 4 class, no x86-64); use qemu32 or max"],
    [['-cpu', 'qemu32,+avx'], "-cpu qemu32,+avx: CPU features cannot be changed on this machine (v86's CPUID is fixed): use -cpu qemu32 alone"],
    [['-smp', '2'], '-smp 2: this machine has one CPU (v86 emulates no SMP): cpus=2 is not supported, use -smp 1'],
    [['-smp', '1,sockets=2'], 'sockets=2 is not supported, use -smp 1'],
    [['-nic', 'user'], "-nic user: user-mode networking (QEMU's slirp) is not available in tessera: it needs a TCP/IP stack on the host side"],
    [['-netdev', 'user,id=n0', '-device', 'ne2k_pci,netdev=n0'], "-netdev user,id=n0: user-mode networking (QEMU's slirp) is not available in tessera"],
    [['-serial', 'vc'], "-serial vc: char device backend 'vc' is not available in tessera; use one of stdio, mon:stdio, none, null, pty, file:PATH, tcp:"],
    [['-serial', 'none', '-serial', 'stdio'], '-serial stdio: this machine has one serial port (COM1): give -serial once'],
    [['-drive', 'if=floppy,file=a.img,index=2'], 'index 2 is out of range (0-1 for a floppy: A: and B:)'],
    [['-fda', 'a.img', '-drive', 'if=floppy,file=b.img,index=0'], 'drive with bus=0, unit=0 (index=0) exists'],
  ])('%j', async (args, text) => {
    expect(await tesseraRefuses(args)).toContain(text);
  });

  it('-machine help and -cpu help list what is accepted (exit 0); accepted values start nothing by themselves', async () => {
    const help = await run(exe(), ['-help']);
    for (const option of ['-fda', '-no-reboot', '-no-shutdown', '-S ', '-name', '-pidfile', '-daemonize', '-nodefaults', '-vga', '-machine', '-cpu', '-smp', 'file:PATH', 'tcp:']) expect(help.stdout).toContain(option);
    const machines = await run(exe(), ['-machine', 'help']);
    expect(machines.code).toBe(0);
    expect(machines.stdout).toMatch(/^Supported machines are:\npc +Standard PC \(i440FX \+ PIIX, 1996\)/);
    const cpus = await run(exe(), ['-cpu', 'help']);
    expect(cpus.code).toBe(0);
    for (const model of ['qemu32', 'max', 'pentium']) expect(cpus.stdout).toMatch(new RegExp(`^x86 ${model} `, 'm'));
    // Everyday values QEMU users pass are accepted (here with -version, which then starts nothing).
    const accepted = await run(exe(), ['-machine', 'pc,accel=tcg,acpi=off', '-M', 'pc-i440fx-7.2,acpi=on', '-no-acpi', '-cpu', 'qemu32', '-smp', 'cpus=1,sockets=1,cores=1,threads=1', '-vga', 'std', '-nodefaults', '-name', 'guest=vm1,debug-threads=on', '-version']);
    expect(accepted.stderr).toBe('');
    expect(accepted.code).toBe(0);
  });
});

interface Running {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every machine a test started; any still running when the file ends (a failed test) is killed. */
const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function start(args: readonly string[], configuration: 'modular' | 'static' = 'modular'): Running {
  const child = spawn(process.execPath, [executable('emulator', configuration), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  const running: Running = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.setEncoding('latin1').on('data', (chunk: string) => (running.stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (running.stderr += chunk));
  return running;
}

async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fileText = (path: string) => (existsSync(path) ? readFileSync(path, 'latin1') : '');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.sequential('options on a running machine (a one-sector floppy guest)', () => {
  it.each(configurations)('-fda boots the floppy; -serial file: gets COM1; power-off exits 0; -nodefaults leaves stdout alone (%s)', async (configuration) => {
    const out = join(dir, `serial-${configuration}.txt`);
    const machine = start(['-fda', floppyGuest('poweroff', dir), '-serial', `file:${out}`], configuration);
    expect(await machine.exit).toEqual({ code: 0, signal: null });
    expect(fileText(out)).toBe(HELLO);
    expect(machine.stdout).toBe('');
    if (configuration === 'static') return; // the rest is the same code in both
    // The same floppy with -drive if=floppy and no -serial: COM1 on stdio (the default), no probing
    // warning with format=raw; with -nodefaults, no COM1 backend at all (the guest still ran: it powered off).
    const plain = start([...floppy(floppyGuest('poweroff', dir)), '-display', 'none']);
    const nodefaults = start(['-nodefaults', ...floppy(floppyGuest('poweroff', dir)), '-display', 'none']);
    for (const run of [plain, nodefaults]) expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(plain.stdout).toBe(HELLO);
    expect(plain.stderr).toBe('');
    expect(nodefaults.stdout).toBe('');
    expect(nodefaults.stderr).toBe('');
  }, 60_000);

  it('guest writes to the floppy reach the image through the block layer; readonly=on and -snapshot keep it unchanged', async () => {
    const writable = floppyGuest('write', dir);
    const readOnly = floppyGuest('write', dir);
    const snapshot = floppyGuest('write', dir);
    const before = readFileSync(readOnly);
    // Three machines at once (each a second of SeaBIOS): the writes land, or are refused, or go to an overlay.
    const machines = [
      start([...floppy(writable), '-display', 'none']),
      start(['-drive', `if=floppy,file=${readOnly},format=raw,readonly=on`, '-display', 'none']),
      start(['-snapshot', ...floppy(snapshot), '-display', 'none']),
    ];
    for (const machine of machines) expect(await machine.exit).toEqual({ code: 0, signal: null });
    expect(machines.map((m) => m.stdout)).toEqual([`${HELLO}W`, `${HELLO}E`, `${HELLO}W`]);
    const written = readFileSync(writable);
    expect(written.subarray(512, 1024).equals(written.subarray(0, 512))).toBe(true); // its boot sector, copied to sector 2
    expect(readFileSync(readOnly).equals(before)).toBe(true);
    expect(readFileSync(snapshot).equals(before)).toBe(true);
  }, 60_000);

  it('floppy images of no floppy format\'s size (1,000,000 bytes, 3 MiB) boot and take writes as under qemu-system-i386 (its 2.88 MB geometry), keeping their size', async () => {
    const sized = (bytes: number, name: string) => {
      const path = join(dir, name);
      const image = readFileSync(floppyGuest('write', dir));
      writeFileSync(path, bytes <= image.length ? image.subarray(0, bytes) : Buffer.concat([image, Buffer.alloc(bytes - image.length)]));
      return path;
    };
    const images = [sized(1_000_000, 'odd-tessera.img'), sized(3 * 2 ** 20, 'big-tessera.img')];
    const theirs = [sized(1_000_000, 'odd-qemu.img'), sized(3 * 2 ** 20, 'big-qemu.img')];
    const machines = images.map((image) => start([...floppy(image), '-display', 'none']));
    // QEMU does not stop at `cli; hlt`: its COM1 output is awaited, then it is killed.
    const qemus = theirs.map((image) => spawn('qemu-system-i386', ['-display', 'none', '-nodefaults', '-serial', `file:${image}.out`, ...floppy(image)], { stdio: 'ignore' }));
    try {
      for (const machine of machines) expect(await machine.exit).toEqual({ code: 0, signal: null });
      expect(machines.map((m) => m.stdout)).toEqual([`${HELLO}W`, `${HELLO}W`]);
      await until("qemu's floppy guests", () => theirs.every((image) => fileText(`${image}.out`).endsWith('W')), 30_000);
      expect(theirs.map((image) => fileText(`${image}.out`))).toEqual([`${HELLO}W`, `${HELLO}W`]);
    } finally {
      for (const qemu of qemus) qemu.kill('SIGKILL');
    }
    for (const [i, image] of images.entries()) {
      const written = readFileSync(image);
      expect(written.length).toBe([1_000_000, 3 * 2 ** 20][i]);
      expect(written.subarray(512, 1024).equals(written.subarray(0, 512))).toBe(true);
    }
  }, 60_000);

  it('a guest reset reboots the machine; under -no-reboot it ends the process with exit 0', async () => {
    const image = floppyGuest('reset', dir);
    const once = join(dir, 'no-reboot.txt');
    // Held by -S until QMP's cont, so that the client sees the reset's SHUTDOWN (QEMU's: guest-reset, no RESET).
    const qmpSocket = join(dir, 'no-reboot.qmp');
    const noReboot = start(['-S', '-no-reboot', '-fda', image, '-serial', `file:${once}`, '-display', 'none', '-qmp', `unix:${qmpSocket},server=on,wait=off`]);
    const { client } = await RawQmp.open({ path: qmpSocket });
    await client.execute('qmp_capabilities');
    expect((await client.execute('cont')).return).toEqual({});
    await client.closedByServer();
    expect(client.events.map((e) => [e.event, e.data])).toEqual([['RESUME', undefined], ['SHUTDOWN', { guest: true, reason: 'guest-reset' }]]);
    expect(await noReboot.exit).toEqual({ code: 0, signal: null });
    expect(noReboot.stderr).not.toMatch(/terminating/);
    expect(fileText(once)).toBe(HELLO);

    const again = join(dir, 'reboot.txt');
    const rebooting = start(['-fda', image, '-serial', `file:${again}`, '-display', 'none']);
    await until('a second boot', () => fileText(again).split(HELLO).length > 2);
    rebooting.child.kill('SIGTERM');
    expect(await rebooting.exit).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('-no-shutdown: the guest powers off, the process stays until told, QMP sees it as QEMU; -S: the CPU does not run (its cont: the -no-reboot case)', async () => {
    const off = join(dir, 'no-shutdown.txt');
    const offSocket = join(dir, 'no-shutdown.qmp');
    const noShutdown = start(['-no-shutdown', ...floppy(floppyGuest('poweroff', dir)), '-serial', `file:${off}`, '-display', 'none', '-qmp', `unix:${offSocket},server=on,wait=off`]);
    const paused = join(dir, 'paused.txt');
    const startPaused = start(['-S', ...floppy(floppyGuest('poweroff', dir)), '-serial', `file:${paused}`, '-display', 'none']);
    const { client } = await RawQmp.open({ path: offSocket });
    await client.execute('qmp_capabilities');
    await until('the guest line', () => fileText(off) === HELLO);
    await sleep(3000); // power-off is seen after about a second of halt: well past it
    expect(noShutdown.child.exitCode).toBeNull();
    expect(startPaused.child.exitCode).toBeNull();
    expect(fileText(paused)).toBe(''); // the floppy guest would have printed in about a second
    // QEMU's sequence under -no-shutdown: SHUTDOWN then STOP, status `shutdown`, cont refused until
    // system_reset (RESET, then `prelaunch`), cont runs the guest again, whose power-off is seen again.
    const log = () => client.events.map((e) => [e.event, e.data]);
    expect(log()).toEqual([['SHUTDOWN', { guest: true, reason: 'guest-shutdown' }], ['STOP', undefined]]);
    expect((await client.execute('query-status')).return).toEqual({ status: 'shutdown', singlestep: false, running: false });
    expect((await client.execute('cont')).error).toEqual({ class: 'GenericError', desc: 'Resetting the Virtual Machine is required' });
    expect((await client.execute('system_reset')).return).toEqual({});
    expect((await client.execute('query-status')).return).toEqual({ status: 'prelaunch', singlestep: false, running: false });
    expect((await client.execute('cont')).return).toEqual({});
    await until('the guest line again', () => fileText(off) === HELLO + HELLO);
    await until('the second power-off', () => client.events.length >= 6, 20_000);
    expect(log().slice(2)).toEqual([['RESET', { guest: false, reason: 'host-qmp-system-reset' }], ['RESUME', undefined], ['SHUTDOWN', { guest: true, reason: 'guest-shutdown' }], ['STOP', undefined]]);
    client.close();
    for (const machine of [noShutdown, startPaused]) {
      machine.child.kill('SIGTERM');
      expect(await machine.exit).toEqual({ code: 0, signal: null });
      expect(machine.stderr).toBe('tessera: terminating on signal 15\n');
    }
    expect(fileText(paused)).toBe('');
  }, 60_000);

  it('-serial pty: QEMU\'s line names a raw terminal; the guest\'s output is there for whoever opens it later, and typing reaches the guest', async () => {
    // QEMU's line, on stdout, as programs that start QEMU parse it (QEMU's stdout is a buffered pipe: it shows at exit).
    const qemu = spawn('qemu-system-i386', ['-display', 'none', '-nodefaults', '-S', '-serial', 'pty'], { stdio: ['ignore', 'pipe', 'ignore'] });
    started.push(qemu);
    let qemuStdout = '';
    qemu.stdout!.setEncoding('utf8').on('data', (chunk: string) => (qemuStdout += chunk));
    const qemuExit = new Promise((resolve) => qemu.on('close', resolve));
    await sleep(1_500);
    qemu.kill('SIGTERM');
    await qemuExit;
    expect(qemuStdout).toMatch(/^char device redirected to \/dev\/pts\/\d+ \(label serial0\)\n$/);
    const machine = start([...floppy(floppyGuest('echo', dir)), '-display', 'none', '-serial', 'pty']);
    await until('the terminal line', () => machine.stdout.includes('\n'));
    const path = /^char device redirected to (\/dev\/pts\/\d+) \(label serial0\)\n$/.exec(machine.stdout)?.[1];
    expect(path, machine.stdout).toBeDefined();
    await sleep(3_000); // the guest has printed its line by now, before anyone opened the terminal
    const fd = openSync(path!, 'r+');
    const terminal = new ReadStream(fd);
    let received = '';
    terminal.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
    await until('the guest line on the terminal', () => received === HELLO);
    writeSync(fd, 'x\r\n'); // raw: no echo by the terminal, no newline translation: the guest echoes exactly these bytes
    await until('the echo', () => received === `${HELLO}x\r\n`);
    writeSync(fd, 'p');
    expect(await machine.exit).toEqual({ code: 0, signal: null });
    terminal.destroy();
    try {
      closeSync(fd);
    } catch {
      // closed with the stream
    }
  }, 60_000);

  it('-serial tcp:/unix: server (wait=off, and wait=on which holds the machine until a client comes) and client, both ways', async () => {
    const image = floppyGuest('echo', dir);
    const port = await freePort();
    const unixPath = join(dir, 'serial.sock');
    // A TCP and a Unix socket server at once.
    const servers = [
      start([...floppy(image), '-display', 'none', '-serial', `tcp:127.0.0.1:${port},server=on,wait=off`]),
      start([...floppy(floppyGuest('echo', dir)), '-display', 'none', '-serial', `unix:${unixPath},server=on,wait=off`]),
    ];
    for (const socket of [await connectWhenListening(port), await connectWhenListening(unixPath)]) {
      let received = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
      await until('the guest line over the socket', () => received === HELLO);
      socket.write('abc');
      await until('the echo', () => received === `${HELLO}abc`);
      socket.write('p'); // the guest powers off
      socket.on('error', () => {});
    }
    for (const server of servers) expect(await server.exit).toEqual({ code: 0, signal: null });

    // wait=on (QEMU's default for a server): QEMU's line, and nothing runs until the client connects.
    const waitingPort = await freePort();
    const waiting = start([...floppy(floppyGuest('echo', dir)), '-display', 'none', '-serial', `tcp::${waitingPort},server=on`]);
    await until('the waiting line', () => waiting.stderr.includes('info: QEMU waiting for connection on:'));
    expect(waiting.stderr).toBe(`tessera: -serial tcp::${waitingPort},server=on: info: QEMU waiting for connection on: disconnected:tcp:0.0.0.0:${waitingPort},server=on\n`);
    const late = await connectWhenListening(waitingPort);
    let lateReceived = '';
    late.setEncoding('latin1').on('data', (chunk: string) => (lateReceived += chunk));
    await until('the guest line after connecting', () => lateReceived === HELLO); // all of it: the guest started after the connection
    late.write('p');
    expect(await waiting.exit).toEqual({ code: 0, signal: null });
    late.destroy();

    // Client mode: tessera connects to a listener.
    let accepted: Socket | undefined;
    const listener = createServer((s) => (accepted = s));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
    const clientPort = (listener.address() as { port: number }).port;
    const client = start([...floppy(floppyGuest('echo', dir)), '-display', 'none', '-serial', `tcp:127.0.0.1:${clientPort}`]);
    await until('tessera to connect', () => accepted !== undefined);
    let clientReceived = '';
    accepted!.setEncoding('latin1').on('data', (chunk: string) => (clientReceived += chunk));
    await until('the guest line to the listener', () => clientReceived === HELLO);
    accepted!.write('xp');
    expect(await client.exit).toEqual({ code: 0, signal: null });
    expect(clientReceived).toBe(`${HELLO}x`);
    listener.close();
  }, 90_000);

  it('-daemonize: the parent exits 0 once the machine runs; -pidfile holds the daemon\'s pid, locked against QEMU and tessera, removed at exit; -name process= names it; its floppy is locked', async () => {
    const image = floppyGuest('echo', dir);
    const pidfile = join(dir, 'vm.pid');
    const out = join(dir, 'daemon.txt');
    const parent = await run(exe(), ['-daemonize', '-pidfile', 'vm.pid', '-name', 'vm1,process=tessera-vm1', '-fda', basename(image), '-serial', 'file:daemon.txt', '-display', 'none'], { cwd: dir, timeoutMs: 30_000 });
    expect(parent).toEqual({ code: 0, stdout: '', stderr: expect.stringContaining(`WARNING: Image format was not specified for '${basename(image)}'`) });
    const pid = Number(readFileSync(pidfile, 'utf8'));
    expect(readFileSync(pidfile, 'utf8')).toBe(`${pid}\n`);
    try {
      expect(alive(pid)).toBe(true);
      expect(readFileSync(`/proc/${pid}/comm`, 'utf8')).toBe('tessera-vm1\n');
      await until('the daemon\'s guest line', () => fileText(out) === HELLO);

      // The pid file is locked: a second tessera and QEMU refuse it, and leave it as it is.
      expect(await tesseraRefuses(['-pidfile', pidfile, ...floppy(floppyGuest('echo', dir))])).toBe('cannot create PID file: Cannot lock pid file: Resource temporarily unavailable\n');
      expect(qemuRefuses(['-pidfile', pidfile])).toBe('cannot create PID file: Cannot lock pid file: Resource temporarily unavailable\n');
      expect(readFileSync(pidfile, 'utf8')).toBe(`${pid}\n`);
      // The floppy is the guest's: QEMU's tools cannot write it meanwhile.
      const io = spawnSync('qemu-io', ['-f', 'raw', '-c', 'write 0 512', image], { encoding: 'utf8' });
      expect(io.stderr).toContain('Failed to get "write" lock');
    } finally {
      process.kill(pid, 'SIGTERM');
    }
    await until('the daemon to end', () => !alive(pid));
    expect(existsSync(pidfile)).toBe(false);

    // The other way round: QEMU holds the pid file, tessera refuses it.
    const qemu = spawn('qemu-system-i386', ['-display', 'none', '-nodefaults', '-S', '-pidfile', pidfile], { stdio: 'ignore' });
    try {
      await until('QEMU\'s pid file', () => fileText(pidfile) === `${qemu.pid}\n`);
      expect(await tesseraRefuses(['-pidfile', pidfile, '-fda', image])).toBe('cannot create PID file: Cannot lock pid file: Resource temporarily unavailable\n');
      expect(fileText(pidfile)).toBe(`${qemu.pid}\n`);
    } finally {
      qemu.kill('SIGTERM');
    }
  }, 90_000);

  it('-daemonize: a start-up failure reaches the parent, which exits 1 and leaves no pid file', async () => {
    const result = await run(exe(), ['-daemonize', '-pidfile', 'failed.pid', '-fda', 'missing.img', '-display', 'none'], { cwd: dir, timeoutMs: 30_000 });
    expect(result).toEqual({ code: 1, stdout: '', stderr: "tessera: -fda missing.img: Could not open 'missing.img': No such file or directory\n" });
    expect(existsSync(join(dir, 'failed.pid'))).toBe(false);
  }, 30_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A connection to 127.0.0.1:PORT or a Unix socket's path, once something listens there. */
async function connectWhenListening(where: number | string): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = typeof where === 'number' ? connect(where, '127.0.0.1', () => resolve(socket)) : connect(where, () => resolve(socket));
        socket.once('error', reject);
      });
    } catch (error) {
      if (attempt > 100) throw error;
      await sleep(100);
    }
  }
}
