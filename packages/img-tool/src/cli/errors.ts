/**
 * Failures a command reports to the user. Each message is printed as `tessera-img: <message>`
 * (continuation lines inside one message are printed as they are, like qemu-img's multi-line
 * errors); the process then exits with `exitCode`.
 */
export class ToolError extends Error {
  readonly messages: readonly string[];

  constructor(
    messages: string | readonly string[],
    readonly exitCode = 1,
    options?: { cause?: unknown },
  ) {
    const list = typeof messages === 'string' ? [messages] : messages;
    super(list.join('\n'), options);
    this.name = 'ToolError';
    this.messages = list;
  }
}

/** A command line the program cannot make sense of: followed by the "Try … --help" hint, exit 1. */
export class UsageError extends ToolError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'UsageError';
  }
}

/** The text of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
