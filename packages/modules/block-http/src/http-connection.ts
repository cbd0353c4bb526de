import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Agent, interceptors, type Dispatcher } from 'undici';
import type { HttpOptions } from './http-options.ts';

/** Connections per node; QEMU's curl driver keeps a similar handful of transfers in flight. */
const MAX_CONNECTIONS = 8;
/** Redirects followed on every request (curl follows them too; signed URLs often redirect). */
const MAX_REDIRECTS = 10;

export type HttpResponse = Dispatcher.ResponseData;

/**
 * The undici agent of one opened node, with its TLS settings and timeouts. Requests go through
 * an Agent rather than a Pool so that redirects to another host keep working.
 */
export class HttpConnection {
  private constructor(
    private readonly url: URL,
    private readonly agent: Agent,
    private readonly dispatcher: Dispatcher,
    private readonly authorization: string | undefined,
  ) {}

  /** Set up the agent; reads the `ca-file` now so a bad path fails the open, not the first read. */
  static async create(url: URL, options: HttpOptions, shownUrl: string): Promise<HttpConnection> {
    const ca = url.protocol === 'https:' && options.caFile ? await readCaFile(options.caFile, shownUrl) : undefined;
    const agent = new Agent({
      connections: MAX_CONNECTIONS,
      connect: { timeout: options.timeoutMs, rejectUnauthorized: options.sslVerify, ...(ca ? { ca } : {}) },
      // Waiting for the answer and for the body is bounded by each request's overall deadline
      // (deadline.ts), as curl's CURLOPT_TIMEOUT bounds it; undici's own pause timers are off.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const dispatcher = agent.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }));
    return new HttpConnection(url, agent, dispatcher, basicAuthorization(url));
  }

  /** One request; `signal` aborts it (and its body) when its deadline passes. */
  request(method: 'HEAD' | 'GET', headers: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> {
    return this.dispatcher.request({
      signal,
      origin: this.url.origin,
      path: `${this.url.pathname}${this.url.search}`,
      method,
      headers: {
        // Ranges count bytes of the stored file; a compressed transfer would count something else.
        'accept-encoding': 'identity',
        ...(this.authorization ? { authorization: this.authorization } : {}),
        ...headers,
      },
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** A CA bundle is a few hundred KiB at most: anything larger is not one. */
const MAX_CA_FILE_BYTES = 16 * 1024 * 1024;

async function readCaFile(path: string, shownUrl: string): Promise<Buffer> {
  const fail = (reason: string, cause?: unknown) =>
    new Error(`Could not open '${shownUrl}': cannot read ca-file '${path}': ${reason}`, cause === undefined ? undefined : { cause });
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO named as the ca-file must not hang the open; only a regular file is read.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (error as Error).message;
    throw fail(reason, error);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw fail('not a regular file');
    if (stat.size > MAX_CA_FILE_BYTES) throw fail('larger than 16 MiB, which no CA bundle is');
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** `http://user:password@host/…` credentials, sent as HTTP basic authentication like curl does. */
function basicAuthorization(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}
