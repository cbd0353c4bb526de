import { describeErrno } from '../image/errno.ts';

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

/**
 * The text of any thrown value. A system call's failure as Node words it ("ENOSPC: no space left
 * on device, write") is given the C library's text, as qemu-img prints it ("No space left on device").
 */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code, syscall } = error as NodeJS.ErrnoException;
  if (typeof code === 'string' && typeof syscall === 'string' && error.message.startsWith(`${code}:`)) {
    return describeErrno(code) ?? error.message;
  }
  return withErrnoText(error);
}

/**
 * A message that quotes a wrapped system call's failure as Node words it ("…: ENOSPC: no space
 * left on device, write"), with the C library's text in its place.
 */
function withErrnoText(error: Error): string {
  for (let cause = error.cause; cause instanceof Error; cause = cause.cause) {
    const { code, syscall } = cause as NodeJS.ErrnoException;
    const text = typeof code === 'string' && typeof syscall === 'string' ? describeErrno(code) : undefined;
    if (text !== undefined && cause.message.startsWith(`${code}:`) && error.message.includes(cause.message)) {
      return error.message.replace(cause.message, text);
    }
  }
  return error.message;
}
