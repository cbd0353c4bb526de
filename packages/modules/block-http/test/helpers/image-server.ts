import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** How the test server misbehaves; the default is a well-behaved server with range support. */
export interface ServerBehaviour {
  /** `false`: ignore Range headers entirely and never advertise them (a plain static server). */
  readonly ranges?: boolean;
  /** Advertise ranges on HEAD but answer range GETs with the whole file (status 200). */
  readonly ignoreRangeOnGet?: boolean;
  /** HEAD answers without Content-Length and Accept-Ranges, so the size must come from a range GET. */
  readonly bareHead?: boolean;
  /** Status every request gets instead of the image (404, 500). */
  readonly status?: number;
  /** Status for range GETs of more than one byte only (reads fail, opening works). */
  readonly readStatus?: number;
  /** For reads of more than one byte: send the headers and this many body bytes, then… */
  readonly partialBody?: { readonly bytes: number; readonly then: 'destroy' | 'stall' };
  /** For reads of more than one byte: send one body byte every `trickleMs` (never a pause long enough for a pause timer). */
  readonly trickleMs?: number;
  /** Path that redirects (302) to the image path. */
  readonly redirectFrom?: string;
  /** Authorization header value required, else 401. */
  readonly authorization?: string;
}

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  readonly authorization?: string;
}

export interface ImageServer {
  /** URL of the image (`http://127.0.0.1:port/disk.img` or https). */
  readonly url: string;
  readonly origin: string;
  readonly image: Buffer;
  readonly requests: LoggedRequest[];
  close(): Promise<void>;
}

export const IMAGE_PATH = '/disk.img';

export function randomImage(size: number): Buffer {
  return randomBytes(size);
}

/** Serve `image` on 127.0.0.1 (an ephemeral port), over TLS when `tls` has a key and certificate. */
export async function startImageServer(
  image: Buffer,
  behaviour: ServerBehaviour = {},
  tls?: { readonly key: Buffer; readonly cert: Buffer },
): Promise<ImageServer> {
  const requests: LoggedRequest[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
    serve(req, res, image, behaviour);
  };
  const server: Server = tls ? createTlsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url: `${origin}${IMAGE_PATH}`,
    origin,
    image,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serve(req: IncomingMessage, res: ServerResponse, image: Buffer, behaviour: ServerBehaviour): void {
  if (behaviour.authorization !== undefined && req.headers.authorization !== behaviour.authorization) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
    return;
  }
  if (behaviour.redirectFrom !== undefined && req.url === behaviour.redirectFrom) {
    res.writeHead(302, { location: IMAGE_PATH }).end();
    return;
  }
  if (behaviour.status !== undefined || req.url !== IMAGE_PATH) {
    res.writeHead(behaviour.status ?? 404).end('no such image');
    return;
  }
  const ranges = behaviour.ranges !== false;
  if (req.method === 'HEAD') {
    const headers = behaviour.bareHead
      ? { 'transfer-encoding': 'chunked' }
      : { 'content-length': image.length, ...(ranges ? { 'accept-ranges': 'bytes' } : {}) };
    res.writeHead(200, headers).end();
    return;
  }
  const range = ranges && !behaviour.ignoreRangeOnGet ? parseRange(req.headers.range) : undefined;
  if (!range) {
    res.writeHead(200, { 'content-length': image.length }).end(image);
    return;
  }
  const [first, last] = range;
  if (first >= image.length || last < first) {
    res.writeHead(416, { 'content-range': `bytes */${image.length}` }).end();
    return;
  }
  const end = Math.min(last, image.length - 1);
  const isRead = end > first;
  if (isRead && behaviour.readStatus !== undefined) {
    res.writeHead(behaviour.readStatus).end('failed');
    return;
  }
  const body = image.subarray(first, end + 1);
  res.writeHead(206, { 'content-length': body.length, 'content-range': `bytes ${first}-${end}/${image.length}` });
  if (isRead && behaviour.trickleMs !== undefined) {
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed || sent >= body.length) {
        clearInterval(timer);
        if (!res.destroyed) res.end();
        return;
      }
      res.write(body.subarray(sent, ++sent));
    }, behaviour.trickleMs);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (isRead && behaviour.partialBody) {
    const { bytes, then } = behaviour.partialBody;
    res.write(body.subarray(0, bytes), () => {
      // 'stall' leaves the response open forever: only the client's timeout ends it.
      if (then === 'destroy') res.socket?.destroy();
    });
    return;
  }
  res.end(body);
}

function parseRange(header: string | undefined): [number, number] | undefined {
  const match = header && /^bytes=(\d+)-(\d+)$/.exec(header);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}
