import { afterEach, describe, expect, it } from 'vitest';
import { closeOpenedNodes, openImage, readAt, rejectionOf } from './helpers/open-node.ts';
import { randomImage, startImageServer, type ImageServer, type ServerBehaviour } from './helpers/image-server.ts';
import { closedPortUrl, startSilentServer } from './helpers/silent-server.ts';

const image = randomImage(3 * 1024 * 1024);

describe('servers that fail', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await closeOpenedNodes();
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });
  const start = async (behaviour: ServerBehaviour): Promise<ImageServer> => {
    const server = await startImageServer(image, behaviour);
    cleanups.push(() => server.close());
    return server;
  };

  it('reports a missing image with its status and URL', async () => {
    const server = await start({});
    const url = `${server.origin}/missing.img`;
    const { error } = await rejectionOf(openImage(url));
    expect(error.message).toBe(`Could not open '${url}': HTTP 404 Not Found`);
  });

  it('reports a server error on open', async () => {
    const server = await start({ status: 503 });
    await expect(openImage(server.url)).rejects.toThrow(`Could not open '${server.url}': HTTP 503 Service Unavailable`);
  });

  it('refuses a server without byte-range support', async () => {
    const server = await start({ ranges: false });
    const { error } = await rejectionOf(openImage(server.url));
    expect(error.message).toContain(`Could not open '${server.url}'`);
    expect(error.message).toMatch(/does not support 'range' \(byte ranges\)/);
    // The probe must not download the whole image to find that out.
    expect(server.requests.map((request) => request.method)).toEqual(['HEAD', 'GET']);
  });

  it('rejects a read answered with the whole file instead of the range', async () => {
    const server = await start({ ignoreRangeOnGet: true });
    const node = await openImage(server.url, { readahead: '0' });
    const { error } = await rejectionOf(readAt(node, 1024, 4096));
    expect(error.message).toBe(
      `${server.url}: read of 4096 bytes at offset 1024 failed: the server ignored the byte range and sent the whole file (HTTP 200 instead of 206)`,
    );
  });

  it('reports a failed read with its status, URL and offset', async () => {
    const server = await start({ readStatus: 500 });
    const node = await openImage(server.url, { readahead: '0' });
    const { error } = await rejectionOf(readAt(node, 65536, 512));
    expect(error.message).toBe(`${server.url}: read of 512 bytes at offset 65536 failed: HTTP 500 Internal Server Error`);
  });

  it('reports a server that dies mid-transfer quickly, with the bytes that arrived', async () => {
    const server = await start({ partialBody: { bytes: 100_000, then: 'destroy' } });
    const node = await openImage(server.url, { readahead: '0' });
    const { error, seconds } = await rejectionOf(readAt(node, 8192, 1024 * 1024));
    expect(error.message).toBe(
      `${server.url}: read of 1048576 bytes at offset 8192 failed after 100000 of 1048576 bytes arrived: the server closed the connection`,
    );
    expect(seconds).toBeLessThan(2);
  });

  it('gives up on a body that stops flowing after the timeout', async () => {
    const server = await start({ partialBody: { bytes: 10_000, then: 'stall' } });
    const node = await openImage(server.url, { readahead: '0', timeout: '1' });
    const { error, seconds } = await rejectionOf(readAt(node, 0, 100_000));
    expect(error.message).toMatch(/read of 100000 bytes at offset 0 failed after 10000 of 100000 bytes arrived/);
    expect(error.message).toMatch(/the transfer did not finish within 1 s \(timeout=1 bounds each request as a whole/);
    expect(seconds).toBeGreaterThan(0.8);
    expect(seconds).toBeLessThan(5);
  });

  it('gives up on a server that trickles a byte at a time once the request has taken the timeout, as curl does', async () => {
    // A byte every 200 ms: no pause is ever long, but the 4096 bytes would take 13 minutes.
    const server = await start({ trickleMs: 200 });
    const node = await openImage(server.url, { readahead: '0', timeout: '1.5' });
    const { error, seconds } = await rejectionOf(readAt(node, 512, 4096));
    expect(error.message).toMatch(new RegExp(`^${server.url}: read of 4096 bytes at offset 512 failed after \\d of 4096 bytes arrived: `));
    expect(error.message).toContain('the transfer did not finish within 1.5 s (timeout=1.5 bounds each request as a whole, as curl does; raise it for a slow server)');
    expect(seconds).toBeGreaterThan(1.3);
    expect(seconds).toBeLessThan(4);
  });

  it('gives up on a server that accepts but never answers after the timeout', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const { error, seconds } = await rejectionOf(openImage(silent.url, { timeout: '1' }));
    expect(error.message).toBe(`Could not open '${silent.url}': the server did not answer within 1 s (timeout=1)`);
    expect(seconds).toBeGreaterThan(0.8);
    expect(seconds).toBeLessThan(5);
  });

  it('gives up on a TLS handshake that never completes after the timeout', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const url = silent.url.replace('http://', 'https://');
    const { error, seconds } = await rejectionOf(openImage(url, { timeout: '1' }));
    // undici's connect timer and the request's deadline run out together: either words it.
    expect(error.message).toMatch(new RegExp(`^Could not open '${url}': (connecting timed out after 1 s|the server did not answer within 1 s) \\(timeout=1`));
    expect(seconds).toBeLessThan(5);
  });

  it('reports a refused connection', async () => {
    const url = await closedPortUrl();
    await expect(openImage(url)).rejects.toThrow(`Could not open '${url}': Connection refused`);
  });
});
