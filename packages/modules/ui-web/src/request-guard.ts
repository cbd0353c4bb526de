// Which requests the display answers. Any web site open in the user's browser could otherwise reach
// the machine's keyboard: a WebSocket must come from our own page (Origin matches Host), and on a
// loopback address the Host must be a loopback name too, which defeats DNS rebinding.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}

function hostName(host: string): string {
  return host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
}

export function hostAllowed(request: IncomingMessage, listeningOnLoopback: boolean): boolean {
  const host = request.headers.host;
  if (!host) return false;
  return !listeningOnLoopback || isLoopback(hostName(host).toLowerCase());
}

export function originAllowed(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  // Browsers always send Origin with a WebSocket; other clients (scripts, tests) are not a CSRF risk.
  if (origin === undefined) return true;
  return origin.toLowerCase() === `http://${request.headers.host ?? ''}`.toLowerCase();
}
