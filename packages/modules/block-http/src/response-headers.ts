import type { HttpResponse } from './http-connection.ts';

/** A response header's value (the first, if it was sent more than once). */
export function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export interface ContentRange {
  /** First and last byte of the part sent; absent when a 416 answer has a star there instead. */
  readonly first?: number;
  readonly last?: number;
  /** Size of the whole file; absent when the server sends `*`. */
  readonly total?: number;
}

/** Parse `Content-Range: bytes first-last/total` (or a star for the part, as a 416 answer sends). */
export function contentRange(response: HttpResponse): ContentRange | undefined {
  const value = header(response, 'content-range');
  const match = value && /^\s*bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i.exec(value);
  if (!match) return undefined;
  const number = (text: string | undefined) => (text === undefined || text === '*' ? undefined : Number(text));
  return { first: number(match[1]), last: number(match[2]), total: number(match[3]) };
}

/** Content-Length as a number, when the server sent a valid one. */
export function contentLength(response: HttpResponse): number | undefined {
  const value = header(response, 'content-length');
  return value !== undefined && /^\s*\d+\s*$/.test(value) ? Number(value) : undefined;
}

/** Let the connection go back to the pool without reading a body we do not want. */
export async function discardBody(response: HttpResponse): Promise<void> {
  // dump() reads a little and then aborts, so a large unwanted body is never downloaded.
  await response.body.dump().catch(() => undefined);
}
