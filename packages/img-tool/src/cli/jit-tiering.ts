const DEFAULT_INTERRUPT_BUDGET = 66 * 1024;

/**
 * Let V8 optimize only code that stays hot, for a command that moves a whole image's data.
 *
 * V8 sends a function to its optimizing compiler once it has run about 66 KiB of its bytecode
 * (the interrupt budget), a default tuned for long-lived pages. Such a command is I/O-bound and
 * mostly short: on a 1 GiB convert most of the copy ran in baseline code while TurboFan compiled
 * the copy and qcow2 write paths on the other core (about 110 ms of CPU, done near the end),
 * taking that core from the kernel's reads and writes. With sixteen times the budget the convert
 * bench used about 85 ms less CPU and took about 40 ms less.
 *
 * Called on the first turn of the event loop after the command has started (setImmediate), not
 * before: loading node:v8 pulls in Node's streams and takes about 5 ms, which then overlaps the
 * first opens (done on the thread pool) instead of coming before them. That is early enough: a function takes the budget anew
 * each time it has used up the last one, and none is hot yet.
 */
export function raiseTierUpBudget(): void {
  // Loaded here, not imported: `info` and the other quick commands need not pay for node:v8.
  const { setFlagsFromString } = process.getBuiltinModule('node:v8');
  setFlagsFromString(`--interrupt-budget=${16 * DEFAULT_INTERRUPT_BUDGET}`);
}
