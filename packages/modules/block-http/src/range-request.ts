import type { HttpConnection, HttpResponse } from './http-connection.ts';
import { describeRequestError, describeStatus } from './http-errors.ts';
import { contentRange, discardBody } from './response-headers.ts';

/**
 * Fill `into` with the bytes at `offset` through one `Range: bytes=a-b` GET. Anything short of a
 * 206 carrying exactly those bytes is an error naming the URL, the offset and what arrived.
 */
export async function fetchRange(
  connection: HttpConnection,
  shownUrl: string,
  timeoutMs: number,
  offset: number,
  into: Uint8Array,
): Promise<void> {
  const last = offset + into.length - 1;
  const what = `${shownUrl}: read of ${into.length} bytes at offset ${offset} failed`;
  let response: HttpResponse;
  try {
    response = await connection.request('GET', { range: `bytes=${offset}-${last}` });
  } catch (error) {
    throw new Error(`${what}: ${describeRequestError(error, timeoutMs)}`, { cause: error });
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
  const { received, failure } = await receiveBody(response, into);
  if (failure !== undefined) {
    throw new Error(
      `${what} after ${received} of ${into.length} bytes arrived: ${describeRequestError(failure, timeoutMs)}`,
      { cause: failure },
    );
  }
  if (received !== into.length) {
    throw new Error(`${what}: the server sent ${received} bytes instead of ${into.length}`);
  }
}

/** Copy the body into `into`; stops (and reports) at a network error or at surplus data. */
async function receiveBody(response: HttpResponse, into: Uint8Array): Promise<{ received: number; failure?: unknown }> {
  let received = 0;
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
  }
}
