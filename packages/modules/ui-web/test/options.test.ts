import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWebDisplayOptions } from '../src/display-options.ts';
import { webDisplay } from '../src/web-display.ts';
import { TestMachine } from './helpers/test-machine.ts';
import type { DisplaySession } from '@tessera/core';

const sessions: DisplaySession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((session) => session.close()));
});

describe('-display web options', () => {
  it('declares its options and defaults to loopback port 5700', () => {
    expect(webDisplay.name).toBe('web');
    expect(webDisplay.options).toEqual(['port', 'addr']);
    expect(parseWebDisplayOptions({})).toEqual({ port: 5700, address: '127.0.0.1' });
    expect(parseWebDisplayOptions({ port: '0', addr: '[::1]' })).toEqual({ port: 0, address: '::1' });
    expect(parseWebDisplayOptions({ port: '65535', addr: 'localhost' })).toEqual({ port: 65535, address: 'localhost' });
  });

  it.each([
    [{ port: '' }, /option 'port' must be a TCP port number .* not ''/],
    [{ port: 'http' }, /option 'port' .* not 'http'/],
    [{ port: '65536' }, /option 'port' .* from 0 to 65535/],
    [{ port: '-1' }, /option 'port' .* not '-1'/],
    [{ port: '80.5' }, /option 'port' .* not '80.5'/],
    [{ addr: '' }, /option 'addr' must be an IP address or host name .* not ''/],
    [{ addr: 'http://x/' }, /option 'addr' .* not 'http:\/\/x\/'/],
    [{ colour: 'on' }, /-display web: unknown option 'colour' \(known: port, addr\)/],
  ])('refuses %j', async (options, message) => {
    await expect(webDisplay.open(new TestMachine(), options)).rejects.toThrow(message);
  });

  it('picks a free port with port=0 and says where the page is', async () => {
    const session = await webDisplay.open(new TestMachine(), { port: '0' });
    sessions.push(session);
    expect(session.message).toMatch(/^tessera: web display at http:\/\/127\.0\.0\.1:(\d+)\/$/);
    const url = session.message!.replace(/^.* at /, '');
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Tessera</title>');
  });

  it('reports a port in use, naming it', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(webDisplay.open(new TestMachine(), { port: String(port) })).rejects.toThrow(
        `-display web: port ${port} on 127.0.0.1 is already in use (choose another with port=N, or port=0 for a free one)`,
      );
    } finally {
      blocker.close();
    }
  });

  it('reports an address that is not this host', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface.
    await expect(webDisplay.open(new TestMachine(), { port: '0', addr: '192.0.2.1' })).rejects.toThrow(
      /-display web: option 'addr': cannot listen on '192\.0\.2\.1'/,
    );
  });

  it('stops listening and lets go of the machine on close', async () => {
    const machine = new TestMachine();
    const session = await webDisplay.open(machine, { port: '0' });
    const url = session.message!.replace(/^.* at /, '');
    expect(machine.listenerCount).toBe(2);
    await session.close();
    expect(machine.listenerCount).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  });
});
