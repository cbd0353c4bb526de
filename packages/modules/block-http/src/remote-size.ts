import { withDeadline } from './deadline.ts';
import type { HttpConnection } from './http-connection.ts';
import { describeRequestError, describeStatus } from './http-errors.ts';
import { contentLength, contentRange, discardBody, header } from './response-headers.ts';

/**
 * Learn the image size and make sure the server serves byte ranges: a HEAD request first (as
 * QEMU's curl driver does); when that gives no length or no `Accept-Ranges: bytes`, a one-byte
 * range GET, whose `206` answer proves range support and whose Content-Range carries the size.
 */
export async function probeRemoteSize(connection: HttpConnection, shownUrl: string, timeoutMs: number): Promise<number> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new Error(`Could not open '${shownUrl}': ${reason}`, cause === undefined ? undefined : { cause });
  };
  // Each request, its (unwanted) body included, within its own deadline.
  const send = (method: 'HEAD' | 'GET', headers: Record<string, string> = {}) =>
    withDeadline(timeoutMs, async (deadline) => {
      try {
        const response = await connection.request(method, headers, deadline.signal);
        await discardBody(response);
        return response;
      } catch (error) {
        return fail(describeRequestError(error, timeoutMs, deadline.expired ? 'waiting' : undefined), error);
      }
    });

  const head = await send('HEAD');
  const headOk = head.statusCode >= 200 && head.statusCode < 300;
  const length = contentLength(head);
  const ranges = header(head, 'accept-ranges')?.toLowerCase() ?? '';
  if (headOk && length !== undefined && /\bbytes\b/.test(ranges)) return length;
  if (headOk && ranges.trim() === 'none') fail(noRanges('it answers HEAD with Accept-Ranges: none'));

  // Some servers answer HEAD badly (405, no length, no Accept-Ranges) yet serve ranges fine.
  const probe = await send('GET', { range: 'bytes=0-0' });
  const range = contentRange(probe);
  if (probe.statusCode === 206) {
    if (range?.total === undefined) fail('the server does not report the image size (Content-Range without a total)');
    return range!.total!;
  }
  // A zero-byte file can satisfy no range at all: 416, with a Content-Range total of 0.
  if (probe.statusCode === 416 && range?.total === 0) return 0;
  if (probe.statusCode >= 200 && probe.statusCode < 300) {
    return fail(noRanges(`it answers a range request with ${describeStatus(probe.statusCode)} and the whole file`));
  }
  return fail(describeStatus(probe.statusCode));
}

function noRanges(evidence: string): string {
  return `Server does not support 'range' (byte ranges): ${evidence}; the http driver reads images in byte ranges only`;
}
