// The client distrusts the server: every length, offset and count it sends is checked, and each
// violation is a coded error naming the URL, never a hang or a buffer overrun. A scripted server
// (helpers/scripted-server.ts) commits the faults no real server does.
import { afterEach, describe, expect, it } from 'vitest';
import { nbdProtocol } from '../src/nbd-protocol.ts';
import { chunk, offsetData, startScriptedServer, type Request, type Script } from './helpers/scripted-server.ts';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function serve(script: Script): Promise<string> {
  const server = await startScriptedServer(script);
  close = server.close;
  return server.url;
}

const open = (url: string, driverOptions: Record<string, string> = {}) => nbdProtocol.open(url, { readOnly: true, driverOptions });

/** Read 4096 bytes at 8192 from a server answering with `answer`; the error it fails with. */
async function readFailure(answer: (r: Request) => Buffer | undefined, driverOptions: Record<string, string> = {}) {
  const url = await serve({ answer });
  const node = await open(url, driverOptions);
  const started = Date.now();
  const error = await node.read(8192, new Uint8Array(4096)).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  await node.close();
  return { url, error, seconds: (Date.now() - started) / 1000 };
}

describe('a hostile NBD server', () => {
  it('a correct answer is read (control)', async () => {
    const url = await serve({ answer: (r) => offsetData(r.cookie, r.offset, Buffer.alloc(r.length, 7)) });
    const node = await open(url);
    const into = new Uint8Array(4096);
    await node.read(8192, into);
    expect(into.every((b) => b === 7)).toBe(true);
    await node.close();
  });

  it.each([
    ['a data chunk longer than the read', (r: Request) => offsetData(r.cookie, r.offset, Buffer.alloc(r.length + 1)), /OFFSET_DATA of 4097 bytes at offset 8192, outside the read of 4096 bytes/],
    ['a data chunk before the read', (r: Request) => offsetData(r.cookie, r.offset - 1, Buffer.alloc(r.length)), /outside the read of 4096 bytes at offset 8192/],
    ['a hole beyond the read', (r: Request) => chunk(r.cookie, 2, Buffer.from([0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0x20, 0])), /OFFSET_HOLE of 8192 bytes at offset 8192, outside the read of 4096 bytes/],
    ['a reply that covers half the read', (r: Request) => offsetData(r.cookie, r.offset, Buffer.alloc(r.length / 2)), /covered 2048 bytes/],
    ['a reply to a cookie never sent', (r: Request) => offsetData(Buffer.alloc(8, 0xee), r.offset, Buffer.alloc(r.length)), /no request in flight has/],
    ['an error chunk whose message is longer than the chunk', (r: Request) => chunk(r.cookie, 0x8001, Buffer.from([0, 0, 0, 5, 0xff, 0xff, 65])), /error chunk of 7 bytes whose message says 65541/],
    ['a chunk claiming 4 GiB of payload', (r: Request) => chunk(r.cookie, 5, Buffer.alloc(0)).fill(0xff, 16, 20), /BLOCK_STATUS chunk of 4294967295 bytes|block status in the reply to another request/],
  ])('%s: a protocol error naming the URL', async (_, answer, pattern) => {
    const { url, error } = await readFailure(answer);
    expect(error?.message).toMatch(new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: the server broke the NBD protocol: `));
    expect(error?.message).toMatch(pattern);
    expect(error?.code).toBe('nbd-protocol');
  });

  it("the server's own error is reported with its words", async () => {
    const message = Buffer.from('disk on fire');
    const { url, error } = await readFailure((r) => chunk(r.cookie, 0x8001, Buffer.concat([Buffer.from([0, 0, 0, 5, 0, message.length]), message])));
    expect(error?.message).toBe(`${url}: read of 4096 bytes at offset 8192 failed: Input/output error (server reported: disk on fire)`);
    expect(error?.code).toBe('nbd-server-error');
  });

  it('a server that never answers a request: the request deadline ends it', async () => {
    const { url, error, seconds } = await readFailure(() => undefined, { timeout: '0.5' });
    expect(error?.message).toBe(`${url}: the server did not answer within 0.5 s (timeout=0.5)`);
    expect(error?.code).toBe('nbd-timeout');
    expect(seconds).toBeLessThan(3);
  });

  it('an export size past 2^53, and an export name listed longer than its reply, are refused', async () => {
    const huge = await serve({ size: 2n ** 60n });
    await expect(open(huge)).rejects.toMatchObject({ code: 'nbd-protocol', message: expect.stringContaining('export size of 1152921504606846976 bytes') });
    await close!();
    const listed = await serve({ listReply: Buffer.from([0xff, 0xff, 0xff, 0xff, 65]) });
    const other = listed.replace(/disk$/, 'nope');
    // The list is only a hint: a broken one leaves qemu-img's message without it.
    await expect(open(other)).rejects.toMatchObject({
      code: 'nbd-no-export',
      message: `Could not open '${other}': Requested export not available: server reported: export 'nope' not present`,
    });
  });

  it('many reads in flight at once are matched to their replies by cookie, answered in reverse order', async () => {
    const held: Request[] = [];
    const url = await serve({
      answer: (r) => {
        held.push(r);
        if (held.length < 8) return undefined;
        return Buffer.concat(held.reverse().map((h) => offsetData(h.cookie, h.offset, Buffer.alloc(h.length, h.offset / 4096))));
      },
    });
    const node = await open(url);
    const buffers = Array.from({ length: 8 }, () => new Uint8Array(4096));
    await Promise.all(buffers.map((b, i) => node.read(i * 4096, b)));
    expect(buffers.map((b) => b[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await node.close();
  });

  it('TLS credentials and a server without TLS: qemu\'s words; a server that acknowledges STARTTLS and then says nothing: the connect deadline ends it', async () => {
    const objects = new Map([['tls0', { qomType: 'tls-creds-x509', id: 'tls0', properties: { dir: '/nonexistent', 'verify-peer': 'off' } }]]);
    const withTls = (url: string) => nbdProtocol.open(url, { readOnly: true, driverOptions: { 'tls-creds': 'tls0', 'connect-timeout': '1' }, objects });
    const plain = await serve({});
    await expect(withTls(plain)).rejects.toMatchObject({ code: 'nbd-tls', message: `Could not open '${plain}': Server don't support STARTTLS option (it is not configured for TLS; leave tls-creds out)` });
    await close?.();
    const silent = await serve({ silentAfterStartTls: true });
    const started = Date.now();
    await expect(withTls(silent)).rejects.toMatchObject({ code: 'nbd-timeout', message: expect.stringMatching(/did not complete the NBD handshake within 1 s/) });
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
