// The HTTP side: the page, its script and style, nothing else. WebSocket upgrades are handed on.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PAGE_HTML } from './page/page-html.ts';
import { PAGE_SCRIPT } from './page/page-script.ts';
import { PAGE_CSS } from './page/page-style.ts';
import { hostAllowed } from './request-guard.ts';

const ASSETS: Readonly<Record<string, { readonly type: string; readonly body: string }>> = {
  '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML },
  '/app.js': { type: 'text/javascript; charset=utf-8', body: PAGE_SCRIPT },
  '/style.css': { type: 'text/css; charset=utf-8', body: PAGE_CSS },
};

export function createPageServer(listeningOnLoopback: boolean): Server {
  return createServer((request, response) => servePage(request, response, listeningOnLoopback));
}

function servePage(request: IncomingMessage, response: ServerResponse, listeningOnLoopback: boolean): void {
  if (!hostAllowed(request, listeningOnLoopback)) return reply(response, 403, 'forbidden host\n');
  if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, 'method not allowed\n');
  const path = new URL(request.url ?? '/', 'http://display').pathname;
  const asset = Object.hasOwn(ASSETS, path) ? ASSETS[path] : undefined;
  if (!asset) return reply(response, 404, 'not found\n');
  response.writeHead(200, {
    'content-type': asset.type,
    'content-length': Buffer.byteLength(asset.body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(request.method === 'HEAD' ? undefined : asset.body);
}

function reply(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
