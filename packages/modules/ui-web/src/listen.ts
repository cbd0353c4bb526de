// Binding the display's port, with errors that say what to change.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export function listen(server: Server, port: number, address: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      server.off('listening', listening);
      reject(new Error(listenErrorMessage(error, port, address)));
    };
    const listening = () => {
      server.off('error', failed);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', failed);
    server.once('listening', listening);
    server.listen(port, address);
  });
}

function listenErrorMessage(error: NodeJS.ErrnoException, port: number, address: string): string {
  const where = `${address}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return `-display web: port ${port} on ${address} is already in use (choose another with port=N, or port=0 for a free one)`;
    case 'EACCES':
      return `-display web: not allowed to listen on ${where} (ports below 1024 need privileges; choose another with port=N)`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `-display web: option 'addr': cannot listen on '${address}' (${error.code}: not an address of this host)`;
    default:
      return `-display web: cannot listen on ${where}: ${error.message}`;
  }
}
