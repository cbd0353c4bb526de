// A raw QMP connection for the tests: JSON messages in, answers and events out, nothing hidden
// (error classes, event data and timestamps are what the tests compare with QEMU's).
import { connect, type Socket } from 'node:net';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Message = { [key: string]: Json };

export class RawQmp {
  readonly events: Message[] = [];
  private buffer = '';
  private readonly answers: Message[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline).trim();
        this.buffer = this.buffer.slice(newline + 1);
        if (!line) continue;
        const message = JSON.parse(line) as Message;
        if ('event' in message) this.events.push(message);
        else this.answers.push(message);
        this.waiter?.();
      }
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  /** Connect (retrying while the server starts) and read the greeting. */
  static async open(target: { path: string } | { host: string; port: number }, timeoutMs = 60_000): Promise<{ client: RawQmp; greeting: Message }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(target as never, () => resolve(s));
          s.once('error', reject);
        });
        const client = new RawQmp(socket);
        return { client, greeting: await client.next() };
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Send one request (object or raw text) and return the next answer. */
  async send(request: Message | string): Promise<Message> {
    this.socket.write(typeof request === 'string' ? request : `${JSON.stringify(request)}\n`);
    return this.next();
  }

  execute(command: string, args?: Message, id: Json = command): Promise<Message> {
    return this.send({ execute: command, ...(args ? { arguments: args } : {}), id });
  }

  /** The first event named `name` received so far or later (from the `from`th event on). */
  async event(name: string, timeoutMs = 30_000, from = 0): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find((e) => e.event === name);
      if (found) return found;
      if (this.closed || Date.now() > deadline) throw new Error(`no ${name} event (got ${this.events.map((e) => e.event).join(', ')})`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  /** Resolves when the server closes the connection. */
  async closedByServer(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the connection stayed open');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private async next(): Promise<Message> {
    while (this.answers.length === 0) {
      if (this.closed) throw new Error('connection closed before an answer');
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return this.answers.shift()!;
  }
}

/** An empty array's element shape: it matches any (tessera offers no QMP capability; QEMU offers "oob"). */
export const EMPTY = 'empty array';

/** `ours` with the element shapes of its empty arrays taken from `theirs`, for comparing the two. */
export function fillEmpty(ours: unknown, theirs: unknown): unknown {
  if (Array.isArray(ours) && Array.isArray(theirs)) return ours[0] === EMPTY ? theirs : [fillEmpty(ours[0], theirs[0])];
  if (ours && theirs && typeof ours === 'object' && typeof theirs === 'object') {
    return Object.fromEntries(Object.entries(ours).map(([k, v]) => [k, fillEmpty(v, (theirs as Record<string, unknown>)[k])]));
  }
  return ours;
}

/**
 * The shape of a JSON value: keys and types, not values. An array's shape is its first
 * element's (QMP lists hold one kind of thing).
 */
export function shape(value: Json | undefined): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? [EMPTY] : [shape(value[0])];
  if (typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shape(value[k])]));
  return typeof value;
}
