// Images read from a live HTTP server on loopback (the block-http module; loadable in the
// modular build, builtin in the static one). qemu-img is the reference on the local copy.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, allocatedBytes, configurations, qemuImg, qemuInfo, random, tempDir, tool, writeImage, type Configuration } from './helpers.ts';

const IMAGE_SIZE = 6 * MiB + 512;

/** Serves files of a directory with HEAD and single byte ranges (206), like a static web server. */
async function startServer(dir: string): Promise<{ server: Server; base: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    void (async () => {
      requests.push(`${request.method} ${request.url} ${request.headers.range ?? ''}`);
      const name = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname.slice(1));
      let body: Buffer;
      try {
        if (name.includes('/') || name === '') throw new Error('no');
        body = await readFile(join(dir, name));
      } catch {
        response.writeHead(404).end();
        return;
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
      const headers = { 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
      if (request.method === 'HEAD') {
        response.writeHead(200, { ...headers, 'Content-Length': body.length }).end();
      } else if (range) {
        const start = Number(range[1]);
        const end = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
        if (start >= body.length) {
          response.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
          return;
        }
        response.writeHead(206, { ...headers, 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${body.length}` });
        response.end(body.subarray(start, end + 1));
      } else {
        response.writeHead(200, { ...headers, 'Content-Length': body.length }).end(body);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, requests };
}

describe.each(configurations)('http(s) images (%s)', (configuration: Configuration) => {
  let dir: string;
  let served: string;
  let base: string;
  let server: Server;
  let requests: string[];

  beforeAll(async () => {
    dir = await tempDir();
    served = await tempDir();
    await writeImage(join(served, 'disk.raw'), IMAGE_SIZE, [
      [4096, random(8192)],
      [3 * MiB - 100, random(MiB)],
      [IMAGE_SIZE - 1, Uint8Array.of(9)],
    ]);
    await writeImage(join(served, 'odd.raw'), 1000, [[0, random(1000)]]);
    await copyFile(join(served, 'disk.raw'), join(dir, 'local.raw'));
    ({ server, base, requests } = await startServer(served));
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('info: virtual size as qemu-img reports for the local copy; no disk size', async () => {
    const reference = await qemuInfo(join(dir, 'local.raw'));
    const url = `${base}/disk.raw`;
    const json = await tool(configuration, ['info', '--output=json', url]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ 'virtual-size': reference['virtual-size'], filename: url, format: 'raw' });
    expect(json.stdout).toBe(`${JSON.stringify(JSON.parse(json.stdout), null, 4)}\n`);

    const human = await tool(configuration, ['info', url]);
    const local = await qemuImg(['info', 'local.raw'], dir);
    expect(human.code).toBe(0);
    // The same text as qemu-img shows for the local file, but for the name and the disk size.
    expect(human.stdout).toBe(
      local.stdout.replace('image: local.raw', `image: ${url}`).replace(/^disk size: .*$/m, 'disk size: unavailable'),
    );
  });

  it('info of an image that is not whole sectors: sizes rounded as qemu-img rounds them', async () => {
    await copyFile(join(served, 'odd.raw'), join(dir, 'odd.raw'));
    const reference = await qemuInfo(join(dir, 'odd.raw'));
    const result = await tool(configuration, ['info', '--output=json', `${base}/odd.raw`]);
    expect(JSON.parse(result.stdout)).toMatchObject({ 'virtual-size': reference['virtual-size'] });
  });

  it('info with -f http, and with --image-opts naming the http driver', async () => {
    const url = `${base}/disk.raw`;
    const protocolOnly = await tool(configuration, ['info', '--output=json', '-f', 'http', url]);
    expect(JSON.parse(protocolOnly.stdout)).toEqual({ 'virtual-size': IMAGE_SIZE, filename: url, format: 'http' });
    const options = await tool(configuration, ['info', '--output=json', '--image-opts', `driver=raw,file.driver=http,file.url=${url}`]);
    expect(options.code).toBe(0);
    expect(JSON.parse(options.stdout)).toEqual({ 'virtual-size': IMAGE_SIZE, filename: url, format: 'raw' });
    const badOption = await tool(configuration, ['info', '--image-opts', `file.driver=http,file.url=${url},file.nosuch=1`]);
    expect(badOption.code).toBe(1);
    expect(badOption.stderr).toContain("Block protocol 'http' doesn't support the option 'nosuch'");
  });

  it('convert http → local raw: qemu-img compare finds it identical, and it is sparse', async () => {
    const result = await tool(configuration, ['convert', `${base}/disk.raw`, 'from-http.raw'], dir);
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    const compared = await qemuImg(['compare', 'local.raw', 'from-http.raw'], dir);
    expect(compared).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
    expect((await stat(join(dir, 'from-http.raw'))).size).toBe(IMAGE_SIZE);
    expect(await allocatedBytes(join(dir, 'from-http.raw'))).toBeLessThan(IMAGE_SIZE / 2);
    // Read in large ranges, not sector by sector.
    expect(requests.filter((line) => line.startsWith('GET /disk.raw')).length).toBeLessThan(64);
  });

  it('convert -p from http shows progress', async () => {
    const result = await tool(configuration, ['convert', '-p', `${base}/disk.raw`, 'progress.raw'], dir);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {4}\(0\.00\/100%\)\r( {4}\(\d{1,3}\.\d\d\/100%\)\r)* {4}\(100\.00\/100%\)\r\n$/);
  });

  it('compare http vs local: the verdicts qemu-img gives for the local files', async () => {
    const url = `${base}/disk.raw`;
    const identical = await tool(configuration, ['compare', url, 'local.raw'], dir);
    expect(identical).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
    expect(await tool(configuration, ['compare', 'local.raw', url], dir)).toEqual(identical);

    const changed = await readFile(join(dir, 'local.raw'));
    changed[3 * MiB + 12_345] = changed[3 * MiB + 12_345]! ^ 1;
    await writeFile(join(dir, 'changed.raw'), changed);
    const reference = await qemuImg(['compare', 'local.raw', 'changed.raw'], dir);
    expect(reference.code).toBe(1);
    expect(await tool(configuration, ['compare', url, 'changed.raw'], dir)).toEqual(reference);

    await copyFile(join(dir, 'local.raw'), join(dir, 'longer.raw'));
    await writeImage(join(dir, 'longer.raw'), IMAGE_SIZE + MiB, []);
    const longer = await qemuImg(['compare', 'local.raw', 'longer.raw'], dir);
    expect(await tool(configuration, ['compare', url, 'longer.raw'], dir)).toEqual(longer);
  });

  it('errors: a missing URL, a closed port, writing to http', async () => {
    const missing = `${base}/missing.raw`;
    const info = await tool(configuration, ['info', missing]);
    expect(info.code).toBe(1);
    expect(info.stderr).toMatch(new RegExp(`^tessera-img: Could not open '${missing.replace(/[.?]/g, '\\$&')}': .*404`));
    const compare = await tool(configuration, ['compare', missing, join(dir, 'local.raw')]);
    expect(compare.code).toBe(2); // qemu-img compare: error opening an image
    const refused = await tool(configuration, ['info', 'http://127.0.0.1:9/disk.raw']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tessera-img: Could not open 'http:\/\/127\.0\.0\.1:9\/disk\.raw': /);
    const create = await tool(configuration, ['create', `${base}/new.raw`, '1M']);
    const qemuCreate = await qemuImg(['create', `${base}/new.raw`, '1M']);
    expect(create).toEqual({ ...qemuCreate, stderr: qemuCreate.stderr.replaceAll('qemu-img', 'tessera-img') });
  });
});
