import type { MonitorContext } from './context.ts';
import type { EventHub } from './events.ts';
import { JsonStream } from './json-stream.ts';
import { MonitorError } from './machine-control.ts';
import { executeQmp } from './qmp-commands.ts';
import { monitorVersion } from './version.ts';

/**
 * One QMP client connection: QEMU's greeting, capabilities negotiation, then commands answered
 * in order (`{"return": …}` or `{"error": {"class", "desc"}}`, with the client's `id` echoed) and
 * events once negotiated.
 */
export class QmpSession {
  private negotiated = false;
  private queue: Promise<void> = Promise.resolve();
  private readonly stream = new JsonStream(
    (text) => this.enqueue(text),
    (text) => this.send({ error: { class: 'GenericError', desc: `JSON parse error, stray '${text}'` } }),
  );
  private readonly unsubscribe: () => void;

  constructor(
    private readonly context: MonitorContext,
    events: EventHub,
    private readonly write: (line: string) => void,
  ) {
    this.unsubscribe = events.subscribe((event) => {
      if (this.negotiated) this.send(event);
    });
    // QEMU advertises "oob" only where out-of-band execution works; it is not offered here.
    this.send({ QMP: { version: monitorVersion(), capabilities: [] } });
  }

  input(text: string): void {
    this.stream.push(text);
  }

  close(): void {
    this.unsubscribe();
  }

  /** Commands run one at a time, so replies come in the order the requests did. */
  private enqueue(text: string): void {
    this.queue = this.queue.then(() => this.handle(text));
  }

  private async handle(text: string): Promise<void> {
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch (error) {
      this.send({ error: { class: 'GenericError', desc: `JSON parse error, ${(error as Error).message}` } });
      return;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      this.send({ error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } });
      return;
    }
    const message = request as Record<string, unknown>;
    const id = 'id' in message ? { id: message.id } : {};
    const fail = (error: MonitorError) => this.send({ ...id, error: { class: error.errorClass, desc: error.message } });
    for (const key of Object.keys(message)) {
      if (!['execute', 'arguments', 'id'].includes(key)) return fail(new MonitorError('GenericError', `QMP input member '${key}' is unexpected`));
    }
    if (typeof message.execute !== 'string') {
      return fail(new MonitorError('GenericError', message.execute === undefined ? "QMP input lacks member 'execute'" : "QMP input member 'execute' must be a string"));
    }
    const args = message.arguments ?? {};
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      return fail(new MonitorError('GenericError', "QMP input member 'arguments' must be an object"));
    }
    const name = message.execute;
    if (name === 'qmp_capabilities') {
      if (this.negotiated) return fail(new MonitorError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored'));
      const enable = (args as Record<string, unknown>).enable;
      if (Array.isArray(enable) && enable.length > 0) return fail(new MonitorError('GenericError', `Capability '${String(enable[0])}' not available`));
      this.negotiated = true;
      this.send({ return: {}, ...id });
      return;
    }
    if (!this.negotiated) return fail(new MonitorError('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'"));
    try {
      const result = await executeQmp(this.context, name, args as Record<string, unknown>);
      this.send({ return: result, ...id });
    } catch (error) {
      if (error instanceof MonitorError) return fail(error);
      fail(new MonitorError('GenericError', (error as Error).message));
    }
  }

  private send(message: unknown): void {
    this.write(`${JSON.stringify(message)}\r\n`);
  }
}
