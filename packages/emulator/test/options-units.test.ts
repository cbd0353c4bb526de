// The option parsers and the run state on their own (no executable, no guest).
import { describe, expect, it, vi } from 'vitest';
import { parseCommandLine } from '../src/cli/parse.ts';
import type { MachineConfig } from '../src/machine/config.ts';
import { RunState, RunStateError } from '../src/machine-options/run-state.ts';
import { serialFilename } from '../src/serial/chardev-name.ts';
import { watchForPowerOff } from '../src/machine/power-off.ts';
import type { V86Cpu } from '../src/machine/v86-internals.ts';

function machine(...args: string[]): MachineConfig {
  const command = parseCommandLine(args);
  if (command.kind !== 'run') throw new Error(`not a run: ${command.kind}`);
  return command.machine;
}

describe('option parsing into the machine configuration', () => {
  it('-serial backends, with QEMU\'s defaults (a server waits unless wait=off; -nodefaults and -daemonize leave stdio alone)', () => {
    expect(machine().serial).toEqual({ kind: 'stdio' });
    expect(machine('-nodefaults').serial).toEqual({ kind: 'none' });
    expect(machine('-daemonize').serial).toEqual({ kind: 'none' });
    expect(machine('-serial', 'null').serial).toEqual({ kind: 'none' });
    expect(machine('-serial', 'file:/tmp/a,b').serial).toEqual({ kind: 'file', path: '/tmp/a,b' });
    expect(machine('-serial', 'tcp::4555,server').serial).toMatchObject({ kind: 'tcp', host: '', port: 4555, server: true, wait: true });
    expect(machine('-serial', 'tcp:[::1]:4555,server=on,wait=off').serial).toMatchObject({ host: '::1', server: true, wait: false });
    expect(machine('-serial', 'tcp:localhost:22').serial).toMatchObject({ host: 'localhost', port: 22, server: false, wait: false });
    expect(() => machine('-serial', 'tcp:localhost:99999')).toThrow("could not connect serial device to character backend 'tcp:localhost:99999'");
    expect(() => machine('-serial', 'tcp::1')).toThrow('a client needs a host');
    expect(machine('-serial', 'unix:/run/s.sock,server,wait=off').serial).toMatchObject({ kind: 'unix', path: '/run/s.sock', server: true, wait: false });
    expect(() => machine('-serial', 'unix:/run/s.sock,mode=0600')).toThrow("Invalid parameter 'mode'");
  });

  it('floppies: -fda/-fdb and -drive if=floppy are drives A: and B:, apart from the IDE indexes; boot from A: when it is the only drive', () => {
    const m = machine('-fda', 'a.img', '-drive', 'if=floppy,file=b.img,readonly=on', '-hda', 'c.img');
    expect(m.drives.map((d) => [d.interface ?? 'ide', d.index, d.file, d.readOnly])).toEqual([
      ['floppy', 0, 'a.img', false],
      ['floppy', 1, 'b.img', true],
      ['ide', 0, 'c.img', false],
    ]);
    expect(m.bootOrder).toBe('c');
    expect(machine('-fda', 'a.img').bootOrder).toBe('a');
    expect(machine('-fdb', 'b.img', '-drive', 'if=floppy,file=a.img').drives.map((d) => d.index)).toEqual([1, 0]);
  });

  it('process options land on the configuration (-name for QMP\'s query-name)', () => {
    expect(machine('-name', 'guest=vm1,process=p1', '-pidfile', 'x.pid', '-S', '-no-reboot', '-no-shutdown').process).toEqual({
      name: 'vm1',
      processName: 'p1',
      pidfile: 'x.pid',
      daemonize: false,
      startPaused: true,
      noReboot: true,
      noShutdown: true,
    });
    expect(machine('-name', 'plain').process.name).toBe('plain');
    expect(machine('-cpu', 'pentium').warnings).toEqual(["-cpu pentium: warning: the guest sees v86's CPU (Pentium 4 class, SSE3), a superset of pentium"]);
    expect(machine('-cpu', 'qemu32').warnings).toEqual([]);
  });
});

describe('run state', () => {
  function engine() {
    const calls: string[] = [];
    return { calls, run: async () => void calls.push('run'), stop: async () => void calls.push('stop') };
  }

  it('prelaunch → running → paused → running; shutdown needs a reset (to prelaunch) before it runs again, as QEMU\'s cont', async () => {
    const e = engine();
    const state = new RunState(e);
    const seen: string[] = [];
    state.onChange((status, previous) => seen.push(`${previous}>${status}`));
    expect(state.status).toBe('prelaunch');
    await state.pause(); // nothing runs yet: nothing to stop
    await state.resume();
    await state.resume(); // already running: no second run()
    await state.pause();
    await state.resume();
    await state.shutdown();
    await expect(state.resume()).rejects.toThrow(new RunStateError('needs-reset', 'Resetting the Virtual Machine is required'));
    state.afterReset(); // QEMU: a reset machine that is not running is prelaunch again
    await state.resume();
    await state.pause();
    await state.shutdown(); // not running (-no-reboot's system_reset of a stopped machine): stays paused, as QEMU
    state.afterReset();
    expect(seen).toEqual([
      'prelaunch>running', 'running>paused', 'paused>running', 'running>shutdown', 'shutdown>prelaunch', 'prelaunch>running',
      'running>paused', 'paused>prelaunch',
    ]);
    expect(e.calls).toEqual(['run', 'stop', 'run', 'stop', 'run', 'stop']);
  });
});

describe('COM1 in query-chardev', () => {
  it("names each -serial backend as qemu-system-i386 does (a server before its first client)", () => {
    const name = (spec: string) => serialFilename(machine('-serial', spec).serial);
    expect(name('stdio')).toBe('stdio');
    expect(name('mon:stdio')).toBe('stdio');
    expect(name('file:/tmp/x')).toBe('file');
    expect(name('tcp:127.0.0.1:4444,server=on,wait=off')).toBe('disconnected:tcp:127.0.0.1:4444,server=on');
    expect(name('unix:/tmp/s.sock,server=on,wait=off')).toBe('disconnected:unix:/tmp/s.sock,server=on');
    expect(name('none')).toBeUndefined(); // QEMU lists no serial0 either
  });
});

describe('power-off watch and the run state', () => {
  // A CPU's two fields the watch reads, set by hand: the race it guards against (the monitor's
  // stop landing while the guest sits in `cli; hlt` for a moment) cannot be caused on demand.
  it('a stopped CPU halted with interrupts off is no power-off; a running one is, again after a reset', () => {
    vi.useFakeTimers();
    try {
      const cpu = { in_hlt: new Uint8Array([1]), flags: new Int32Array([0]) } as unknown as V86Cpu; // hlt, IF clear
      let running = false;
      let powerOffs = 0;
      const stop = watchForPowerOff(cpu, () => running, () => powerOffs++);
      vi.advanceTimersByTime(5000);
      expect(powerOffs).toBe(0); // paused (or -S): however long it stays so
      running = true;
      vi.advanceTimersByTime(1000);
      expect(powerOffs).toBe(1);
      running = false; // -no-shutdown: the machine stops in `shutdown`
      vi.advanceTimersByTime(5000);
      expect(powerOffs).toBe(1);
      running = true; // system_reset, cont, and the guest powers off again
      vi.advanceTimersByTime(1000);
      expect(powerOffs).toBe(2);
      stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
