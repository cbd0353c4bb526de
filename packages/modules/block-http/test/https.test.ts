import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeOpenedNodes, openImage, readAt, rejectionOf } from './helpers/open-node.ts';
import { randomImage, startImageServer, type ImageServer } from './helpers/image-server.ts';
import { createTestCertificates, type TestCertificates } from './helpers/test-certificates.ts';

const image = randomImage(2 * 1024 * 1024 + 3);

describe('https with a self-signed CA', () => {
  let certificates: TestCertificates;
  let server: ImageServer;
  beforeAll(async () => {
    certificates = createTestCertificates();
    server = await startImageServer(image, {}, { key: certificates.serverKey, cert: certificates.serverCert });
  });
  afterEach(() => closeOpenedNodes());
  afterAll(async () => {
    await server?.close();
    if (certificates) rmSync(certificates.dir, { recursive: true, force: true });
  });

  it('refuses the server when its CA is not trusted, and says what to do', async () => {
    const { error } = await rejectionOf(openImage(server.url));
    expect(error.message).toContain(`Could not open '${server.url}': SSL certificate problem:`);
    expect(error.message).toMatch(/self[- ]signed certificate in certificate chain|unable to (get|verify)/i);
    expect(error.message).toMatch(/ca-file=.*sslverify=off/);
    expect(server.requests).toEqual([]);
  });

  it('reads the image when ca-file names the CA', async () => {
    const node = await openImage(server.url, { 'ca-file': certificates.caFile });
    expect(node.driver).toBe('https');
    expect(node.size).toBe(image.length);
    expect((await readAt(node, 0, image.length)).equals(image)).toBe(true);
    expect((await readAt(node, image.length - 1, 1))[0]).toBe(image[image.length - 1]);
  });

  it('reads the image without verification when sslverify=off', async () => {
    const node = await openImage(server.url, { sslverify: 'off' });
    expect((await readAt(node, 1_000_000, 4096)).equals(image.subarray(1_000_000, 1_004_096))).toBe(true);
  });

  it('still checks the certificate against a CA file that did not sign it', async () => {
    // The server certificate is no CA; trusting it alone must not let the chain verify.
    const { error } = await rejectionOf(openImage(server.url, { 'ca-file': join(certificates.dir, 'server.pem') }));
    expect(error.message).toMatch(/SSL certificate problem/);
  });

  it('names a ca-file that cannot be read', async () => {
    const missing = join(certificates.dir, 'nope.pem');
    await expect(openImage(server.url, { 'ca-file': missing })).rejects.toThrow(
      `Could not open '${server.url}': cannot read ca-file '${missing}': No such file or directory`,
    );
  });

  it('refuses a ca-file that is a FIFO at once rather than waiting for a writer', async () => {
    const fifo = join(certificates.dir, 'fifo.pem');
    execFileSync('mkfifo', [fifo]);
    const { error, seconds } = await rejectionOf(openImage(server.url, { 'ca-file': fifo }));
    expect(error.message).toBe(`Could not open '${server.url}': cannot read ca-file '${fifo}': not a regular file`);
    expect(seconds).toBeLessThan(2);
  });
});
