import { type Deadline, withDeadline } from './deadline.ts';
import type { HttpConnection, HttpResponse } from './http-connection.ts';
import { describeRequestError, describeStatus } from './http-errors.ts';
import { contentRange, discardBody } from './response-headers.ts';

/**
 * Fill `into` with the bytes at `offset` through one `Range: bytes=a-b` GET. Anything short of a
 * 206 carrying exactly those bytes is an error naming the URL, the offset and what arrived.
 */
export function fetchRange(
  connection: HttpConnection,
  shownUrl: string,
  timeoutMs: number,
  offset: number,
  into: Uint8Array,
): Promise<void> {
  return withDeadline(timeoutMs, (deadline) => fetchRangeBefore(deadline, connection, shownUrl, offset, into));
}

async function fetchRangeBefore(
  deadline: Deadline,
  connection: HttpConnection,
  shownUrl: string,
  offset: number,
  into: Uint8Array,
): Promise<void> {
  const timeoutMs = deadline.ms;
  const last = offset + into.length - 1;
  const what = `${shownUrl}: read of ${into.length} bytes at offset ${offset} failed`;
  let response: HttpResponse;
  try {
    response = await connection.request('GET', { range: `bytes=${offset}-${last}` }, deadline.signal);
  } catch (error) {
    throw new Error(`${what}: ${describeRequestError(error, timeoutMs, deadline.expired ? 'waiting' : undefined)}`, { cause: error });
  }
  if (response.statusCode !== 206) {
    await discardBody(response);
    const reason =
      response.statusCode === 200
        ? 'the server ignored the byte range and sent the whole file (HTTP 200 instead of 206)'
        : describeStatus(response.statusCode);
    throw new Error(`${what}: ${reason}`);
  }
  const range = contentRange(response);
  if (range?.first !== offset || range.last !== last) {
    await discardBody(response);
    const sent = response.headers['content-range'] ?? 'none';
    throw new Error(`${what}: the server sent another range (Content-Range: ${sent}) than bytes ${offset}-${last}`);
  }
  const { received, failure } = await receiveBody(response, into, deadline.signal);
  if (failure !== undefined) {
    const reason = describeRequestError(failure, timeoutMs, deadline.expired ? 'receiving' : undefined);
    throw new Error(`${what} after ${received} of ${into.length} bytes arrived: ${reason}`, { cause: failure });
  }
  if (received !== into.length) {
    throw new Error(`${what}: the server sent ${received} bytes instead of ${into.length}`);
  }
}

/** Copy the body into `into`; stops (and reports) at a network error or at surplus data. */
async function receiveBody(response: HttpResponse, into: Uint8Array, signal: AbortSignal): Promise<{ received: number; failure?: unknown }> {
  let received = 0;
  // The deadline ends the body too, wherever it is (a trickling server sends a byte now and then).
  const abort = () => response.body.destroy(signal.reason as Error);
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      if (received + chunk.length > into.length) {
        response.body.destroy();
        return { received: received + chunk.length };
      }
      into.set(chunk, received);
      received += chunk.length;
    }
    return { received };
  } catch (failure) {
    return { received, failure };
  } finally {
    signal.removeEventListener('abort', abort);
  }
}
