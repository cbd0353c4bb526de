// Run a machine (tessera or qemu-system-i386) until what a person would see — its serial output or
// its VGA text screen — contains every expected text, then stop it. Tessera's screen is read as a
// user's browser reads it, from its web display's WebSocket; QEMU's from its VGA text memory
// (0xB8000) saved through QMP's `pmemsave`, decoded with the same code page.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-ignore -- no type declarations for ws in the workspace (ui-web's dependency, as a browser client here)
import WebSocketClass from 'ws';
import { cp437ToUnicode } from '../../src/console/cp437.ts';

export type Watch = 'serial' | 'screen';

export interface Seen {
  /** Every expected text was seen before the time ran out. */
  readonly reached: boolean;
  readonly serial: string;
  /** The last text screen read (rows joined with newlines). */
  readonly screen: string;
  readonly stderr: string;
  readonly seconds: number;
}

interface PageSocket {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  close(): void;
}
const WebSocket = WebSocketClass as new (url: string) => PageSocket;

const strip = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ' ');

function found(text: string, expected: readonly string[]): boolean {
  const plain = strip(text);
  return expected.every((e) => plain.includes(e));
}

class Run {
  serial = '';
  screen = '';
  stderr = '';
  private done = false;
  private readonly started = performance.now();
  private finish: (seen: Seen) => void = () => {};
  readonly result = new Promise<Seen>((resolve) => (this.finish = resolve));

  constructor(
    readonly child: ChildProcess,
    readonly watch: Watch,
    readonly expected: readonly string[],
    timeoutMs: number,
  ) {
    child.stdout!.setEncoding('latin1').on('data', (chunk: string) => {
      this.serial += chunk;
      this.check();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    const timer = setTimeout(() => this.end(false), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      this.end(this.reached());
    });
  }

  reached(): boolean {
    return found(this.watch === 'serial' ? this.serial : this.screen, this.expected);
  }

  check(): void {
    if (this.reached()) this.end(true);
  }

  end(reached: boolean): void {
    if (this.done) return;
    this.done = true;
    this.child.kill('SIGKILL');
    this.finish({ reached, serial: strip(this.serial), screen: this.screen, stderr: this.stderr, seconds: (performance.now() - this.started) / 1000 });
  }
}

/** tessera with a web display on a free port; its screen comes over the page's WebSocket. */
export function watchTessera(executable: string, args: readonly string[], watch: Watch, expected: readonly string[], timeoutMs: number): Promise<Seen> {
  const display = watch === 'screen' ? ['-display', 'web,port=0'] : ['-nographic'];
  const child = spawn(process.execPath, [executable, ...display, ...args], {
    env: { ...process.env, TESSERA_MODULE_DIR: undefined },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run = new Run(child, watch, expected, timeoutMs);
  if (watch === 'screen') {
    let socket: PageSocket | undefined;
    child.stderr!.on('data', () => {
      const url = /web display at (http:\/\/\S+)/.exec(run.stderr)?.[1];
      if (!url || socket) return;
      socket = new WebSocket(`${url.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`);
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        const message = JSON.parse(String(data)) as { type: string; lines?: string[] };
        if (message.type !== 'text' || !message.lines) return;
        run.screen = message.lines.join('\n');
        run.check();
      });
      socket.on('error', () => {});
    });
    void run.result.then(() => socket?.close());
  }
  return run.result;
}

/** qemu-system-i386 with no display; its text screen is read through QMP every half second. */
export function watchQemu(args: readonly string[], watch: Watch, expected: readonly string[], timeoutMs: number): Promise<Seen> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-media-qemu-'));
  const qmpPath = join(dir, 'qmp.sock');
  const serial = watch === 'serial' ? ['-serial', 'stdio'] : ['-serial', 'none'];
  const child = spawn('qemu-system-i386', ['-display', 'none', '-monitor', 'none', ...serial, '-qmp', `unix:${qmpPath},server=on,wait=off`, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run = new Run(child, watch, expected, timeoutMs);
  if (watch === 'screen') void pollQemuScreen(qmpPath, join(dir, 'vga.bin'), run);
  return run.result;
}

async function pollQemuScreen(qmpPath: string, dump: string, run: Run): Promise<void> {
  let ended = false;
  void run.result.then(() => (ended = true));
  while (!existsSync(qmpPath) && !ended) await sleep(100);
  if (ended) return;
  const qmp = await QmpClient.open(qmpPath);
  try {
    await qmp.execute('qmp_capabilities');
    while (!ended) {
      await qmp.execute('pmemsave', { val: 0xb8000, size: 80 * 25 * 2, filename: dump });
      const cells = readFileSync(dump);
      const rows: string[] = [];
      for (let r = 0; r < 25; r++) {
        let row = '';
        for (let c = 0; c < 80; c++) row += cp437ToUnicode(cells[(r * 80 + c) * 2]!);
        rows.push(row);
      }
      run.screen = rows.join('\n');
      run.check();
      await sleep(500);
    }
  } catch {
    // QEMU went away (killed once the text was seen, or it failed): the run's result says which.
  } finally {
    qmp.close();
  }
}

/** The least of a QMP client: one command at a time, events skipped. */
class QmpClient {
  private buffer = '';
  private waiting: ((line: Record<string, unknown>) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('close', () => this.waiting?.({ error: 'QMP connection closed' }));
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(this.buffer.slice(0, newline)) as Record<string, unknown>;
        this.buffer = this.buffer.slice(newline + 1);
        if ('return' in line || 'error' in line) this.waiting?.(line);
      }
    });
  }

  static open(path: string): Promise<QmpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => resolve(new QmpClient(socket)));
      socket.on('error', reject);
    });
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting = (line) => ('error' in line ? reject(new Error(JSON.stringify(line.error))) : resolve(line.return));
      this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
