import type { BlockErrorCode } from '@tessera/core';

/**
 * Codes of NBD failures a caller can tell apart (beside core's block codes):
 * - `nbd-connect`: the server could not be reached (refused, no route, name not found, deadline);
 * - `nbd-timeout`: the server did not answer a request or the handshake within the deadline;
 * - `nbd-disconnected`: the connection ended (the server went away) with requests outstanding;
 * - `nbd-protocol`: the server broke the protocol (a field out of range, a reply to no request);
 * - `nbd-no-export`: the server has no export of that name;
 * - `nbd-server-error`: the server failed a request or an option with an error of its own;
 * - `nbd-tls`: TLS is required and not configured, the server does not offer it, or its handshake
 *   failed (the server's certificate refused).
 */
export type NbdErrorCode =
  | BlockErrorCode
  | 'nbd-connect'
  | 'nbd-timeout'
  | 'nbd-disconnected'
  | 'nbd-protocol'
  | 'nbd-no-export'
  | 'nbd-server-error'
  | 'nbd-tls';

/**
 * A module imports only types from core, so this is a plain Error carrying a `code` (as core's
 * BlockError does), named alike.
 */
export function nbdError(message: string, code: NbdErrorCode, cause?: unknown): Error & { code: NbdErrorCode } {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { name: 'BlockError', code });
}
