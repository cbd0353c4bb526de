const DEFAULT_INTERRUPT_BUDGET = 66 * 1024;

/**
 * Let V8 optimize only code that stays hot, for a command that moves a whole image's data.
 *
 * V8 sends a function to its optimizing compiler once it has run about 66 KiB of its bytecode
 * (the interrupt budget), a default tuned for long-lived pages. Such a command is I/O-bound and
 * mostly short: on a 1 GiB convert most of the copy ran in baseline code while TurboFan compiled
 * the copy and qcow2 write paths on the other core (about 110 ms of CPU, done near the end),
 * taking that core from the kernel's reads and writes. With sixteen times the budget the convert
 * bench used about 85 ms less CPU and took about 40 ms less (still about 90 ms less CPU with the
 * thread pool sized to the CPUs). Called before the command's code first runs, so its functions
 * get the new budget. (Calling it on the next turn of the event loop instead was tried: loading
 * node:v8 still sat on the path to the first read, as every step of opening the images waits for
 * the main thread, and A/B runs differed by no more than their noise.)
 */
export function raiseTierUpBudget(): void {
  // Loaded here, not imported: loading node:v8 (it pulls in Node's streams) costs about 5 ms,
  // which `info` and the other quick commands need not pay.
  const { setFlagsFromString } = process.getBuiltinModule('node:v8');
  setFlagsFromString(`--interrupt-budget=${16 * DEFAULT_INTERRUPT_BUDGET}`);
}
