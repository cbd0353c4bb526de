import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpProtocol } from '../src/http-protocol.ts';
import { closeOpenedNodes, openImage, readAt } from './helpers/open-node.ts';
import { randomImage, startImageServer, type ImageServer } from './helpers/image-server.ts';

const image = randomImage(256 * 1024);

describe('driver declaration and options', () => {
  let server: ImageServer;
  beforeAll(async () => {
    server = await startImageServer(image);
  });
  afterEach(async () => {
    await closeOpenedNodes();
    server.requests.length = 0;
  });
  afterAll(() => server.close());

  it('serves http and https and declares its options', () => {
    expect(httpProtocol.name).toBe('http');
    expect(httpProtocol.schemes).toEqual(['http', 'https']);
    expect([...(httpProtocol.options ?? [])].sort()).toEqual(['ca-file', 'readahead', 'sslverify', 'timeout', 'url']);
    expect(httpProtocol.create).toBeUndefined();
  });

  it('refuses to open read-write before contacting the server', async () => {
    await expect(httpProtocol.open(server.url, { readOnly: false, driverOptions: {} })).rejects.toThrow(
      `Could not open '${server.url}': the http driver is read-only`,
    );
    expect(server.requests).toEqual([]);
  });

  it.each([
    [{ sslverify: 'maybe' }, /option 'sslverify' must be 'on' or 'off', not 'maybe'/],
    [{ timeout: '0' }, /option 'timeout' must be a number of seconds above 0/],
    [{ timeout: '-1' }, /option 'timeout' .* not '-1'/],
    [{ timeout: 'soon' }, /option 'timeout' .* not 'soon'/],
    [{ timeout: '10001' }, /option 'timeout' .* at most 10000/],
    [{ readahead: '1000' }, /option 'readahead' must be a size that is a multiple of 512/],
    [{ readahead: '1x' }, /option 'readahead' .* not '1x'/],
    [{ readahead: '1G' }, /option 'readahead' .* at most 64M/],
    [{ 'ca-file': '' }, /option 'ca-file' needs the path of a PEM file/],
    [{ cookie: 'a=b' }, /the http driver has no option 'cookie'/],
  ])('rejects %o', async (driverOptions, message) => {
    const open = openImage(server.url, driverOptions);
    await expect(open).rejects.toThrow(message);
    await expect(open).rejects.toThrow(`Could not open '${server.url}'`);
    expect(server.requests).toEqual([]);
  });

  it.each([
    [{ sslverify: 'on', timeout: '2.5', readahead: '1M' }],
    [{ sslverify: 'no', timeout: '10000', readahead: '512' }],
    [{ readahead: '0', 'ca-file': '/ignored/for/plain/http.pem' }],
  ])('accepts %o', async (driverOptions) => {
    const node = await openImage(server.url, driverOptions);
    expect((await readAt(node, 100, 100)).equals(image.subarray(100, 200))).toBe(true);
  });

  it('takes the URL from the url option (--image-opts file.url=…)', async () => {
    const node = await openImage('', { url: server.url });
    expect(node.filename).toBe(server.url);
    expect(node.size).toBe(image.length);
    await expect(openImage(server.url, { url: `${server.origin}/other.img` })).rejects.toThrow(
      /the url option names another URL/,
    );
  });

  it('rejects what is not an http(s) URL', async () => {
    await expect(openImage('http//no-scheme')).rejects.toThrow(`Could not open 'http//no-scheme': not a valid URL`);
    await expect(openImage('ftp://127.0.0.1/x.img')).rejects.toThrow(/serves only http:\/\/ and https:\/\//);
  });
});
