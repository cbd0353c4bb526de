// Other web sites open in the user's browser must not reach the machine's keyboard.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DisplaySession } from '@tessera/core';
import { webDisplay } from '../src/web-display.ts';
import { TestMachine } from './helpers/test-machine.ts';

let session: DisplaySession;
let port: number;

beforeAll(async () => {
  session = await webDisplay.open(new TestMachine(), { port: '0' });
  port = Number(/:(\d+)\/$/.exec(session.message!)![1]);
});
afterAll(() => session.close());

/** The status of a GET (or WebSocket upgrade when `upgrade`) with the given headers. */
function statusOf(path: string, headers: Record<string, string>, upgrade = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const upgradeHeaders = upgrade
      ? { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
      : {};
    const req = request({ host: '127.0.0.1', port, path, headers: { ...upgradeHeaders, ...headers } });
    req.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode!);
    });
    req.on('response', (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('request guard', () => {
  it('serves the page and its WebSocket to our own origin', async () => {
    expect(await statusOf('/', { host: `127.0.0.1:${port}` })).toBe(200);
    expect(await statusOf('/app.js', { host: `localhost:${port}` })).toBe(200);
    expect(await statusOf('/ws', { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` }, true)).toBe(101);
  });

  it('refuses a WebSocket opened by another site', async () => {
    expect(await statusOf('/ws', { host: `127.0.0.1:${port}`, origin: 'http://evil.example' }, true)).toBe(403);
  });

  it('refuses a non-loopback Host on a loopback address (DNS rebinding)', async () => {
    expect(await statusOf('/', { host: `evil.example:${port}` })).toBe(403);
    expect(await statusOf('/ws', { host: `evil.example:${port}`, origin: `http://evil.example:${port}` }, true)).toBe(403);
  });

  it('answers only the page, its script and its style', async () => {
    expect(await statusOf('/etc/passwd', { host: `127.0.0.1:${port}` })).toBe(404);
    expect(await statusOf('/elsewhere', { host: `127.0.0.1:${port}` }, true)).toBe(403);
  });
});
