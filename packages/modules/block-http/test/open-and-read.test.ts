import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES } from '../src/http-node.ts';
import { closeOpenedNodes, openImage, readAt, rejectionOf } from './helpers/open-node.ts';
import { randomImage, startImageServer, type ImageServer } from './helpers/image-server.ts';

const MiB = 1024 * 1024;
// Odd size: the last chunk of a whole-image read is short and the last byte is not aligned.
const image = randomImage(6 * MiB + 12_345);

describe('reading an image from a well-behaved server', () => {
  let server: ImageServer;
  beforeAll(async () => {
    server = await startImageServer(image);
  });
  afterEach(async () => {
    await closeOpenedNodes();
    server.requests.length = 0;
  });
  afterAll(() => server.close());

  it('learns the size from HEAD and reports itself as a read-only http node', async () => {
    const node = await openImage(server.url);
    expect(node.size).toBe(image.length);
    expect(node.driver).toBe('http');
    expect(node.filename).toBe(server.url);
    expect(node.readOnly).toBe(true);
    expect(server.requests).toEqual([expect.objectContaining({ method: 'HEAD', path: '/disk.img' })]);
  });

  it('reads the same bytes as the file at several offsets, including the last byte', async () => {
    const node = await openImage(server.url, { readahead: '0' });
    const cases: Array<[offset: number, length: number]> = [
      [0, 512],
      [1, 1],
      [4095, 8193],
      [MAX_REQUEST_BYTES - 100, 200],
      [image.length - 1000, 1000],
      [image.length - 1, 1],
    ];
    for (const [offset, length] of cases) {
      expect((await readAt(node, offset, length)).equals(image.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true);
    }
    const gets = server.requests.filter((request) => request.method === 'GET').map((request) => request.range);
    expect(gets).toEqual(cases.map(([offset, length]) => `bytes=${offset}-${offset + length - 1}`));
  });

  it('splits a large read into bounded range requests across chunk boundaries', async () => {
    const node = await openImage(server.url);
    const offset = 777;
    const length = MAX_REQUEST_BYTES + MiB;
    expect((await readAt(node, offset, length)).equals(image.subarray(offset, offset + length))).toBe(true);
    const whole = await readAt(node, 0, image.length);
    expect(whole.equals(image)).toBe(true);

    const ranges = server.requests.filter((request) => request.method === 'GET').map((request) => request.range);
    expect(ranges).toEqual([
      `bytes=777-${777 + MAX_REQUEST_BYTES - 1}`,
      `bytes=${777 + MAX_REQUEST_BYTES}-${offset + length - 1}`,
      `bytes=0-${MAX_REQUEST_BYTES - 1}`,
      `bytes=${MAX_REQUEST_BYTES}-${image.length - 1}`,
    ]);
  });

  it('serves small reads inside the readahead window without new requests', async () => {
    const node = await openImage(server.url, { readahead: '64k' });
    expect((await readAt(node, 1000, 512)).equals(image.subarray(1000, 1512))).toBe(true);
    expect((await readAt(node, 2000, 4096)).equals(image.subarray(2000, 6096))).toBe(true);
    expect((await readAt(node, 1000 + 65536 - 10, 10)).equals(image.subarray(66526, 66536))).toBe(true);
    expect(server.requests.filter((request) => request.method === 'GET').map((request) => request.range)).toEqual([
      `bytes=1000-${1000 + 65536 - 1}`,
    ]);
    // One byte past the window needs a new request; the window ends at the image's end.
    expect((await readAt(node, image.length - 5, 5)).equals(image.subarray(image.length - 5))).toBe(true);
    expect(server.requests.at(-1)?.range).toBe(`bytes=${image.length - 5}-${image.length - 1}`);
  });

  it('rejects reads beyond the end of the image without asking the server', async () => {
    const node = await openImage(server.url);
    const { error } = await rejectionOf(readAt(node, image.length - 10, 11));
    expect(error.message).toContain(server.url);
    expect(error.message).toMatch(/beyond the end of the image/);
    await expect(readAt(node, -1, 1)).rejects.toThrow(/beyond the end/);
    expect(server.requests.filter((request) => request.method === 'GET')).toEqual([]);
  });

  it('acts as a read-only remote node: no writes, nothing to flush, unknown allocation, all data', async () => {
    const node = await openImage(server.url);
    await expect(node.write(0, new Uint8Array(512))).rejects.toThrow(/read-only/);
    await expect(node.flush()).resolves.toBeUndefined();
    await expect(node.allocatedSize!()).resolves.toBeUndefined();
    await expect(node.blockStatus!(4096, 1 << 30)).resolves.toEqual({
      length: image.length - 4096,
      zero: false,
      data: true,
      offset: 4096,
    });
    expect(server.requests.every((request) => request.method === 'HEAD')).toBe(true);
  });
});

describe('servers that need more than a HEAD', () => {
  const servers: ImageServer[] = [];
  afterEach(async () => {
    await closeOpenedNodes();
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });
  const start = async (...args: Parameters<typeof startImageServer>) => {
    const server = await startImageServer(...args);
    servers.push(server);
    return server;
  };

  it('falls back to a one-byte range GET when HEAD gives no length', async () => {
    const server = await start(image, { bareHead: true });
    const node = await openImage(server.url);
    expect(node.size).toBe(image.length);
    expect(server.requests.map((request) => [request.method, request.range])).toEqual([
      ['HEAD', undefined],
      ['GET', 'bytes=0-0'],
    ]);
    expect((await readAt(node, 5000, 100)).equals(image.subarray(5000, 5100))).toBe(true);
  });

  it('opens an empty image (the server can satisfy no range)', async () => {
    const server = await start(Buffer.alloc(0), { bareHead: true });
    const node = await openImage(server.url);
    expect(node.size).toBe(0);
    await expect(readAt(node, 0, 0)).resolves.toHaveLength(0);
  });

  it('follows redirects', async () => {
    const server = await start(image, { redirectFrom: '/latest.img' });
    const node = await openImage(`${server.origin}/latest.img`);
    expect(node.size).toBe(image.length);
    expect((await readAt(node, 123, 456)).equals(image.subarray(123, 579))).toBe(true);
    expect(server.requests.map((request) => request.path)).toEqual(['/latest.img', '/disk.img', '/latest.img', '/disk.img']);
  });

  it('sends credentials from the URL as basic authentication and hides the password in errors', async () => {
    const authorization = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
    const server = await start(image, { authorization });
    const withPassword = server.url.replace('http://', 'http://alice:s3cret@');
    const node = await openImage(withPassword);
    expect((await readAt(node, 0, 16)).equals(image.subarray(0, 16))).toBe(true);

    const { error } = await rejectionOf(openImage(withPassword.replace('s3cret', 'wrong')));
    expect(error.message).toMatch(/HTTP 401 Unauthorized/);
    expect(error.message).toContain('alice:***@127.0.0.1');
    expect(error.message).not.toContain('wrong');
  });
});
