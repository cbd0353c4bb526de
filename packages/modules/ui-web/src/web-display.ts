// `-display web`: an HTTP server with the page, and a WebSocket per open tab carrying the screen and
// serial console out and the keyboard and serial input back.
import type { Socket } from 'node:net';
import type { DisplayBackend, DisplaySession, MachineConsole } from '@tessera/core';
import { parseWebDisplayOptions, WEB_DISPLAY_OPTIONS } from './display-options.ts';
import { listen } from './listen.ts';
import { PageConnection } from './page-connection.ts';
import { createPageServer } from './page-server.ts';
import { hostAllowed, isLoopback, originAllowed } from './request-guard.ts';
import { ScreenPublisher } from './screen-publisher.ts';
import { SerialRelay } from './serial-relay.ts';
import { createSocketServer, OPEN, type PageSocket } from './socket-server.ts';

export const webDisplay: DisplayBackend = {
  name: 'web',
  options: WEB_DISPLAY_OPTIONS,
  open: openWebDisplay,
};

export async function openWebDisplay(machine: MachineConsole, rawOptions: Readonly<Record<string, string>>): Promise<DisplaySession> {
  const options = parseWebDisplayOptions(rawOptions);
  const loopback = isLoopback(options.address);
  const server = createPageServer(loopback);
  const sockets = createSocketServer();
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });

  const address = await listen(server, options.port, options.address);
  const screen = new ScreenPublisher(machine);
  const serial = new SerialRelay(machine);

  server.on('upgrade', (request, socket: Socket, head: Buffer) => {
    const path = new URL(request.url ?? '/', 'http://display').pathname;
    if (path !== '/ws' || !hostAllowed(request, loopback) || !originAllowed(request)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (page) => attach(page));
  });

  function attach(page: PageSocket): void {
    const connection = new PageConnection(machine);
    // Sends to a page that is closing are dropped: it will get the whole state when it reconnects.
    const receiver = {
      get bufferedAmount() {
        return page.bufferedAmount;
      },
      send(data: string | Buffer) {
        if (page.readyState === OPEN) page.send(data);
      },
    };
    page.on('message', (data, isBinary) => {
      if (!isBinary) connection.receive(data.toString('utf8'));
    });
    page.on('error', () => page.terminate());
    page.on('close', () => {
      screen.remove(receiver);
      serial.remove(receiver);
      connection.disconnected();
    });
    serial.add(receiver);
    screen.add(receiver);
  }

  let closing: Promise<void> | undefined;
  return {
    message: `tessera: web display at ${pageUrl(options.address, address.port)}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        screen.close();
        serial.close();
        for (const page of sockets.clients) page.terminate();
        sockets.close();
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      });
      return closing;
    },
  };
}

/** Where to point the browser; a wildcard address is reachable as loopback from this host. */
function pageUrl(address: string, port: number): string {
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '[::1]' : address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}/`;
}
