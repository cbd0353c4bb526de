// OutputSink writes to a descriptor directly; when that descriptor is non-blocking and full it
// hands the rest to the Node stream, in order, and a reader that went away ends the output quietly.
// A connected Unix socket is the non-blocking descriptor: libuv opens it that way.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputSink } from '../src/cli/output-sink.ts';

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.reverse()) step();
  cleanup = [];
});

/** A connected pair: `writer` (whose descriptor the sink writes to) and the server's end. */
async function socketPair(): Promise<{ writer: Socket; reader: Socket; fd: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sink-'));
  const path = join(dir, 'socket');
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const writer = createConnection(path);
  await new Promise<void>((resolve) => writer.once('connect', resolve));
  const reader = await accepted;
  reader.pause();
  // The writing end never reads: it would see the reset of a reader that went away and close the
  // descriptor under the sink (a real stdout is not read either).
  writer.pause();
  writer.on('error', () => {});
  reader.on('error', () => {});
  cleanup.push(() => {
    writer.destroy();
    reader.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const fd = (writer as unknown as { _handle: { fd: number } })._handle.fd;
  return { writer, reader, fd };
}

function readAll(reader: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let have = 0;
    reader.on('data', (part: Buffer) => {
      parts.push(part);
      have += part.length;
      if (have >= bytes) resolve(Buffer.concat(parts));
    });
    reader.resume();
  });
}

describe('OutputSink', () => {
  it('a full non-blocking descriptor: the rest goes through the stream, nothing lost or reordered', async () => {
    const { writer, reader, fd } = await socketPair();
    let streamTaken = false;
    const sink = new OutputSink(fd, () => {
      streamTaken = true;
      return writer;
    });
    // Far more than a socket buffer holds while nobody reads: write(2) must fail with EAGAIN.
    const lines = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}\n`);
    for (const line of lines) sink.write(line);
    expect(streamTaken).toBe(true);
    const expected = Buffer.from(lines.join(''));
    const received = readAll(reader, expected.length);
    await sink.flush();
    expect((await received).equals(expected)).toBe(true);
  });

  it('a reader that went away ends the output without an error', async () => {
    // The sink writes into the stdin pipe of a child that closes it unread (and lives on).
    const child = spawn('sh', ['-c', 'exec 0<&-; echo closed; sleep 5'], { stdio: ['pipe', 'pipe', 'ignore'] });
    cleanup.push(() => child.kill());
    child.stdin.on('error', () => {});
    const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const sink = new OutputSink(fd, () => {
      throw new Error('the stream is not needed');
    });
    expect(() => {
      for (let i = 0; i < 1000; i++) sink.write(`more ${i}\n`);
    }).not.toThrow();
    await sink.flush();
  });
});
