/**
 * V8's flags that decide which compiler runs wasm code. A user who starts Node with one of them
 * (`node --wasm-tiering-budget=… tessera.mjs`) keeps their choice. (NODE_OPTIONS cannot carry
 * them: Node refuses these V8 flags there.)
 */
const TIERING_FLAGS = new Set(['liftoff', 'liftoff-only', 'wasm-tier-up', 'wasm-dynamic-tiering', 'wasm-tiering-budget', 'wasm-lazy-compilation']);

/** Whether `execArgv` sets one of the tiering flags, in any spelling V8 accepts (--no-x, --nox, --x_y, --x=…). */
export function setsWasmTiering(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => {
    if (!arg.startsWith('--')) return false;
    const name = arg.slice(2).split('=')[0]!.replaceAll('_', '-');
    return TIERING_FLAGS.has(name) || TIERING_FLAGS.has(name.replace(/^no-?/, ''));
  });
}

/**
 * From now on, compile new wasm modules with Liftoff (V8's baseline compiler) only: called once
 * v86's own CPU module is compiled, so that module keeps its TurboFan tier-up and only the guest's
 * code, which v86 compiles into many small modules as it runs, stays in Liftoff.
 *
 * By default V8 recompiles every hot function with TurboFan on background threads, and v86's
 * guest-code functions are large (up to ~90 KB of wasm): booting the test guest on bare v86 spent
 * ~27 s of TurboFan thread time on them against ~2 s for the CPU module, with CPU time twice the
 * Liftoff-only run's (Node 20.20, V8 11.3). On two cores that work also takes the core the guest
 * runs on. Liftoff-only for everything saves the CPU but runs v86's CPU slower; this split was the
 * fastest of the settings measured (bench/boot.mjs, both guests; numbers in the emulator's README).
 * V8 fixes a module's tiers when it compiles it, so the flag changed here leaves the CPU module's
 * tier-up as it was (test/wasm-tiering.test.ts checks both halves on a real boot).
 */
export function compileGuestCodeWithLiftoff(): void {
  if (setsWasmTiering(process.execArgv)) return;
  process.getBuiltinModule('node:v8').setFlagsFromString('--liftoff-only');
}
