// QMP end to end: the same script against qemu-system-i386 and tessera, answers compared by
// shape (keys and types), and a real QMP client from npm (qemu-qmp) on both. QMP on a booted
// guest (its screendump, its own power-off as SHUTDOWN) is in monitor.test.ts, which boots once.
// A second, short script runs on a machine started with -S -no-reboot -no-shutdown (nothing
// boots: the CPU never runs before `cont`): prelaunch, cont, a reset that shuts down, the
// `shutdown` state.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import QMP from 'qemu-qmp';
import { beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { decodePng, decodePpm, litPixels, untilBiosText } from './support/images.ts';
import { MachineProcess } from './support/machine-process.ts';
import { fillEmpty, RawQmp, shape, type Message } from './support/qmp-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-qmp-test-'));
const cdImage = join(dir, 'cd.iso');
writeFileSync(cdImage, Buffer.alloc(16 * 2048));
/** The same machine for both: no boot medium (the BIOS runs and waits), QMP on a unix socket. */
const machineArgs = (socket: string) => ['-display', 'none', '-m', '64', '-qmp', `unix:${socket},server=on,wait=off`];

interface Step {
  readonly label: string;
  readonly answer: Message;
  /** The events the step must cause, as received. */
  readonly events: Message[];
}

/** Steps of a script: a request, its answer and the events it must cause (in the order expected). */
function scriptSteps(client: RawQmp, steps: Step[]) {
  const step = async (label: string, request: Message | string, expectEvents: string[] = []) => {
    const before = client.events.length;
    const answer = await client.send(request);
    const events: Message[] = [];
    for (const name of expectEvents) events.push(await client.event(name, 30_000, before));
    steps.push({ label, answer, events });
  };
  const run = (command: string, args?: Message, events?: string[]) => step(`${command}(${Object.entries(args ?? {}).map(([k, v]) => (k === 'filename' ? k : `${k}=${String(v)}`)).join(',')})`, { execute: command, ...(args ? { arguments: args } : {}), id: command }, events);
  return { step, run };
}

/** The script: every command, errors included, with the events each must cause. */
async function runScript(client: RawQmp, greeting: Message, screenFile: (format: string) => string): Promise<Step[]> {
  const steps: Step[] = [{ label: 'greeting', answer: greeting, events: [] }];
  const { step, run } = scriptSteps(client, steps);
  await run('query-status'); // before negotiation: refused
  await run('qmp_capabilities');
  await run('qmp_capabilities'); // twice: refused
  await run('no-such-command');
  await run('query-status');
  await run('query-version');
  await run('query-name');
  await run('query-block');
  await run('query-chardev');
  // Let the BIOS reach its text screen (unrecorded screendumps until it has), then stop the machine
  // so that the PPM and the PNG are of the same screen.
  await untilBiosText(async (file) => void (await client.send({ execute: 'screendump', arguments: { filename: file } })), screenFile('ppm'));
  await run('stop', undefined, ['STOP']);
  await run('query-status');
  await run('screendump', { filename: screenFile('ppm') });
  await run('screendump', { filename: screenFile('png'), format: 'png' });
  await run('screendump', { filename: screenFile('jpg'), format: 'jpg' });
  await run('screendump', { filename: join(dir, 'missing-dir', 'x.ppm') });
  await run('screendump');
  await run('cont', undefined, ['RESUME']);
  await run('blockdev-change-medium', { device: 'ide1-cd0', filename: cdImage, format: 'raw' }, ['DEVICE_TRAY_MOVED']);
  await run('query-block');
  await run('eject', { device: 'ide1-cd0' }, ['DEVICE_TRAY_MOVED']);
  await run('eject', { device: 'no-such-device' });
  await run('blockdev-change-medium', { device: 'ide1-cd0', filename: join(dir, 'missing.iso') });
  await run('human-monitor-command', { 'command-line': 'info status' });
  await run('human-monitor-command', { 'command-line': 'no-such-command' });
  await run('query-status', { unexpected: 1 });
  await step('not JSON', '{"execute": "query-status\n');
  await step('not an object', '[1]\n');
  await step('execute not a string', '{"execute": 5}\n');
  await run('system_reset', undefined, ['RESET']);
  await run('system_powerdown', undefined, ['POWERDOWN']);
  // A reset of a stopped machine makes it `prelaunch` again (QEMU); cont runs it.
  await run('stop', undefined, ['STOP']);
  await run('system_reset', undefined, ['RESET']);
  await run('query-status');
  await run('cont', undefined, ['RESUME']);
  return steps;
}

/** On -S -no-reboot -no-shutdown -name: the run states QEMU goes through, ending with quit. */
async function runLifecycleScript(client: RawQmp): Promise<Step[]> {
  const steps: Step[] = [];
  const { run } = scriptSteps(client, steps);
  await run('qmp_capabilities');
  await run('query-status'); // prelaunch
  await run('query-name');
  await run('human-monitor-command', { 'command-line': 'info status' });
  await run('stop'); // not running: no STOP
  await run('cont', undefined, ['RESUME']);
  await run('query-status');
  await run('system_reset', undefined, ['SHUTDOWN', 'STOP']); // -no-reboot: a shutdown; -no-shutdown: it stops
  await run('query-status'); // shutdown
  await run('human-monitor-command', { 'command-line': 'info status' });
  await run('cont'); // refused until a reset
  await run('quit', undefined, ['SHUTDOWN']);
  return steps;
}

const lifecycleArgs = (socket: string) => ['-display', 'none', '-m', '64', '-S', '-no-reboot', '-no-shutdown', '-name', 'guest-1', '-qmp', `unix:${socket},server=on,wait=off`];

/** The events' names and data in the order they came, for the whole session. */
const eventLog = (client: RawQmp) => client.events.map((e) => `${String(e.event)} ${JSON.stringify(e.data ?? {})}`);

/** Compare two scripts' steps: labels, answer shapes, error classes, events (shape and data). */
function expectSameShapes(ours: Step[], theirs: Step[]): void {
  expect(ours.map((s) => s.label)).toEqual(theirs.map((s) => s.label));
  for (const [i, mine] of ours.entries()) {
    const other = theirs[i]!;
    let [a, b] = [mine.answer, other.answer];
    if (mine.label.startsWith('query-block')) {
      // QEMU's pc machine also lists floppy0 and sd0; compare the CD-ROM each has.
      const cd = (m: Message) => ({ ...m, return: (m.return as Message[]).filter((d) => d.device === 'ide1-cd0') });
      [a, b] = [cd(a), cd(b)];
    }
    expect({ step: mine.label, shape: fillEmpty(shape(a), shape(b)) }).toEqual({ step: other.label, shape: shape(b) });
    // Error classes are values clients branch on: they must be QEMU's exactly.
    expect({ step: mine.label, class: (a.error as Message | undefined)?.class }).toEqual({ step: other.label, class: (b.error as Message | undefined)?.class });
    expect(mine.events.map(shape)).toEqual(other.events.map(shape));
    expect({ step: mine.label, events: mine.events.map((e) => [e.event, e.data]) }).toEqual({ step: other.label, events: other.events.map((e) => [e.event, e.data]) });
    // The run state is a value clients act on: query-status and `info status` say what QEMU says.
    if ((mine.label.startsWith('query-status') || mine.label.includes('info status')) && 'return' in b) expect({ step: mine.label, answer: a }).toEqual({ step: other.label, answer: b });
  }
}

describe.sequential('QMP, the same script on qemu-system-i386 and tessera', () => {
  const results: Record<'qemu' | 'tessera', { steps: Step[]; exit: number | null; stderr: string; shutdown: Message; events: string[] }> = {} as never;
  const lifecycle: Record<'qemu' | 'tessera', { steps: Step[]; exit: number | null; stderr: string; events: string[] }> = {} as never;

  beforeAll(async () => {
    for (const name of ['qemu', 'tessera'] as const) {
      const socket = join(dir, `${name}.qmp`);
      const machine =
        name === 'qemu'
          ? new MachineProcess('qemu-system-i386', machineArgs(socket), 120_000)
          : MachineProcess.tessera(executable('emulator', 'modular'), machineArgs(socket), 120_000);
      try {
        const { client, greeting } = await RawQmp.open({ path: socket }).catch((error: Error) => {
          throw new Error(`${name}: ${error.message}; stderr: ${machine.stderr}`);
        });
        const steps = await runScript(client, greeting, (format) => join(dir, `${name}.${format}`));
        const events = eventLog(client);
        client.close();
        // A second client, QEMU's kind of user: the qemu-qmp package from npm, ending with quit.
        const shutdown = await new Promise<Message>((resolve, reject) => {
          const qmp = new QMP();
          qmp.connect(socket, (error: Error | null) => {
            if (error) return reject(error);
            qmp.on('shutdown', () => resolve({ event: 'SHUTDOWN' }));
            qmp.execute('query-status', (e: Error | null, status: Message) => {
              if (e || status.status !== 'running') return reject(e ?? new Error(`status ${JSON.stringify(status)}`));
              qmp.execute('quit', (e2: Error | null) => e2 && reject(e2));
            });
          });
        });
        results[name] = { steps, exit: await machine.exited, stderr: machine.stderr, shutdown, events };
      } finally {
        machine.kill();
      }
      // -S -no-reboot -no-shutdown: started, never booted.
      const lifecycleSocket = join(dir, `${name}-lifecycle.qmp`);
      const paused =
        name === 'qemu'
          ? new MachineProcess('qemu-system-i386', lifecycleArgs(lifecycleSocket), 60_000)
          : MachineProcess.tessera(executable('emulator', 'modular'), lifecycleArgs(lifecycleSocket), 60_000);
      try {
        const { client } = await RawQmp.open({ path: lifecycleSocket });
        const steps = await runLifecycleScript(client);
        await client.closedByServer();
        lifecycle[name] = { steps, exit: await paused.exited, stderr: paused.stderr, events: eventLog(client) };
      } finally {
        paused.kill();
      }
    }
  }, 300_000);

  it('negotiation, every command, its errors and events have QEMU\'s shapes', () => {
    expectSameShapes(results.tessera.steps, results.qemu.steps);
    // Every event once, in QEMU's order (STOP/RESUME come from the run state, whoever changes it).
    expect(results.tessera.events).toEqual(results.qemu.events);
  });

  it('-S -no-reboot -no-shutdown: prelaunch, cont, a reset that shuts down and stops, cont refused, quit — as QEMU', () => {
    expectSameShapes(lifecycle.tessera.steps, lifecycle.qemu.steps);
    expect(lifecycle.tessera.events).toEqual(lifecycle.qemu.events);
    const answer = (label: string, n = 0) => lifecycle.tessera.steps.filter((s) => s.label.startsWith(label))[n]!.answer;
    expect(answer('query-status', 0).return).toEqual({ status: 'prelaunch', singlestep: false, running: false });
    expect(answer('query-status', 2).return).toEqual({ status: 'shutdown', singlestep: false, running: false });
    expect(answer('query-name').return).toEqual({ name: 'guest-1' });
    expect(answer('human-monitor-command', 1).return).toBe('VM status: paused (shutdown)\r\n');
    expect(answer('cont', 1).error).toEqual({ class: 'GenericError', desc: 'Resetting the Virtual Machine is required' });
    for (const name of ['qemu', 'tessera'] as const) expect(lifecycle[name].exit).toBe(0);
    expect(lifecycle.tessera.stderr).toBe('');
  });

  it('answers carry the machine\'s state: paused after stop, the name, the inserted medium', () => {
    const answer = (label: string, n = 0) => results.tessera.steps.filter((s) => s.label.startsWith(label))[n]!.answer;
    expect(answer('query-status', 0).error).toMatchObject({ class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" });
    expect(answer('query-status', 1).return).toEqual({ status: 'running', singlestep: false, running: true });
    expect(answer('query-status', 2).return).toEqual({ status: 'paused', singlestep: false, running: false });
    expect(answer('query-name').return).toEqual({}); // no -name
    // The QEMU release whose QMP is matched — the peer's major.minor — and tessera named in `package`.
    const theirs = results.qemu.steps.find((s) => s.label.startsWith('query-version'))!.answer.return as { qemu: Message };
    expect(answer('query-version').return).toEqual({ qemu: { major: theirs.qemu.major, minor: theirs.qemu.minor, micro: 0 }, package: expect.stringMatching(/^tessera \d+\.\d+\.\d+, build stamp [0-9a-f]{12}$/) });
    expect(results.tessera.steps[0]!.answer.QMP).toEqual({ version: answer('query-version').return, capabilities: [] });
    expect((answer('query-block', 1).return as Message[])[0]).toMatchObject({ device: 'ide1-cd0', tray_open: false, inserted: { file: cdImage, ro: true, drv: 'raw', image: { 'virtual-size': 16 * 2048 } } });
    expect(answer('human-monitor-command').return).toBe('VM status: running\r\n');
    expect(answer('screendump', 3).error).toEqual({ class: 'GenericError', desc: `failed to open file '${join(dir, 'missing-dir', 'x.ppm')}': No such file or directory` });
    expect(answer('eject', 1).error).toEqual({ class: 'DeviceNotFound', desc: "Device 'no-such-device' not found" });
    const same = (n: number) => [results.tessera.steps, results.qemu.steps].map((steps) => steps.filter((s) => s.label.startsWith('blockdev-change-medium'))[n]!.answer.error);
    expect(same(1)[0]).toEqual(same(1)[1]); // "Could not open '…': No such file or directory", word for word
  });

  it('screendump writes a valid PPM and PNG of the text screen (720x400, the BIOS text on it)', () => {
    for (const name of ['qemu', 'tessera'] as const) {
      const ppm = decodePpm(readFileSync(join(dir, `${name}.ppm`)));
      const png = decodePng(readFileSync(join(dir, `${name}.png`)));
      expect([png.width, png.height]).toEqual([ppm.width, ppm.height]);
      expect(litPixels(png)).toBeGreaterThan(0);
    }
    const ppm = decodePpm(readFileSync(join(dir, 'tessera.ppm')));
    const png = decodePng(readFileSync(join(dir, 'tessera.png')));
    expect([ppm.width, ppm.height]).toEqual([720, 400]);
    expect(Buffer.from(png.rgb).equals(Buffer.from(ppm.rgb))).toBe(true);
    // SeaBIOS's banner on the first text row (16 pixel lines), nothing on the last one.
    expect(litPixels(ppm, 0, 16)).toBeGreaterThan(200);
    expect(litPixels(ppm, 384, 400)).toBe(0);
  });

  it('quit from the npm qemu-qmp client: SHUTDOWN, exit 0, the socket removed', () => {
    for (const name of ['qemu', 'tessera'] as const) {
      expect(results[name].shutdown).toEqual({ event: 'SHUTDOWN' });
      expect(results[name].exit).toBe(0);
      expect(existsSync(join(dir, `${name}.qmp`))).toBe(false);
    }
    expect(results.tessera.stderr).toBe('');
  });
});
