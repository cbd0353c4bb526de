// Which V8 compiler runs the emulator's wasm (src/machine/wasm-tiering.ts), seen on a real boot
// through V8's --trace-wasm-compilation-times, which prints a line per compiled function naming
// its module and compiler. v86's CPU module is the one with hundreds of functions; the modules
// first seen after it are guest code v86 compiled as the guest ran (the static build compiles a
// small module of its own before the CPU: neither).
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { BOOT_TIMEOUT_MS, markers } from './support/boot.ts';
import { kernelArgs } from './support/guest.ts';
import { setsWasmTiering } from '../src/machine/wasm-tiering.ts';

interface Compiles {
  /** TurboFan compiles in v86's CPU module and in the guest-code modules. */
  readonly cpuTurboFan: number;
  readonly guestTurboFan: number;
  readonly guestModules: number;
}

/**
 * V8's trace lines. V8 prints them from its compile threads onto the same stdout as the guest's
 * serial output, so one can land inside a line of the guest's ("TESSERA-GUEST: poweroff" then a
 * trace line, then the guest's line end): they are matched anywhere, and taken out whole.
 */
const TRACE_LINE = /Compiled function (0x[0-9a-f]+)#\d+ using (Liftoff|TurboFan)[^\n]*\n?/g;

/** The guest's markers, with V8's trace lines taken out of the output first. */
function guestMarkers(stdout: string): string[] {
  return markers(stdout.replace(TRACE_LINE, ''));
}

function count(trace: string): Compiles {
  const lines = [...trace.matchAll(TRACE_LINE)].map((m) => ({ module: m[1]!, turboFan: m[2] === 'TurboFan' }));
  const functions = new Map<string, number>();
  for (const { module } of lines) functions.set(module, (functions.get(module) ?? 0) + 1);
  const cpu = [...functions].reduce((most, entry) => (entry[1] > most[1] ? entry : most), ['', 0])[0];
  const guest = new Set(lines.slice(lines.findIndex((l) => l.module === cpu)).map((l) => l.module).filter((m) => m !== cpu));
  return {
    cpuTurboFan: lines.filter((l) => l.turboFan && l.module === cpu).length,
    guestTurboFan: lines.filter((l) => l.turboFan && guest.has(l.module)).length,
    guestModules: guest.size,
  };
}

/** Boot the shortest test guest under `node ...nodeFlags`; `until` may end the run early (SIGKILL). */
function traceBoot(nodeFlags: readonly string[], until: (stdout: string) => boolean = () => false): Promise<{ stdout: string; code: number | null }> {
  const args = [...nodeFlags, '--trace-wasm-compilation-times', executable('emulator', 'modular'), '-nographic', ...kernelArgs('marker', 'tessera.modules=none')];
  const child = spawn(process.execPath, args, { env: { ...process.env, TESSERA_MODULE_DIR: undefined }, stdio: ['pipe', 'pipe', 'inherit'], timeout: BOOT_TIMEOUT_MS - 10_000 });
  let stdout = '';
  child.stdout.setEncoding('latin1').on('data', (chunk: string) => {
    stdout += chunk;
    if (until(stdout)) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, code }));
  });
}

describe.sequential('wasm tiering', () => {
  it('guest code stays in Liftoff while v86\'s CPU module is still optimized by TurboFan', async () => {
    const { stdout, code } = await traceBoot([]);
    expect(guestMarkers(stdout).at(-1)).toBe('poweroff');
    expect(code).toBe(0);
    const compiles = count(stdout);
    expect(compiles.guestModules).toBeGreaterThan(10);
    expect(compiles.guestTurboFan).toBe(0);
    expect(compiles.cpuTurboFan).toBeGreaterThan(0);
  }, BOOT_TIMEOUT_MS);

  it('a user\'s own tiering flag is kept: with a tiny tiering budget guest code reaches TurboFan', async () => {
    const { stdout } = await traceBoot(['--wasm-tiering-budget=1000'], (seen) => count(seen).guestTurboFan > 0);
    expect(count(stdout).guestTurboFan).toBeGreaterThan(0);
  }, BOOT_TIMEOUT_MS);

  it('recognizes the tiering flags in the spellings V8 accepts, and only those', () => {
    for (const flag of ['--liftoff-only', '--no-liftoff', '--noliftoff', '--no-wasm-tier-up', '--wasm_tiering_budget=5', '--wasm-dynamic-tiering', '--no-wasm-lazy-compilation']) {
      expect(setsWasmTiering(['--max-old-space-size=100', flag]), flag).toBe(true);
    }
    for (const flag of ['--liftoffonly', '--trace-wasm-compilation-times', '--wasm-tiering', '-liftoff-only', 'liftoff-only']) {
      expect(setsWasmTiering([flag]), flag).toBe(false);
    }
  });
});
