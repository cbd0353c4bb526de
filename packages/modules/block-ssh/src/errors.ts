import type { BlockErrorCode } from '@tessera/core';

/**
 * Codes of SSH failures a caller can tell apart (beside core's block codes):
 * - `ssh-connect`: the server could not be reached (refused, no route, name not found, deadline);
 * - `ssh-host-key`: the server's host key is unknown or does not match (known_hosts or host_key_check);
 * - `ssh-auth`: the server refused every identity offered (ssh-agent, key file);
 * - `ssh-timeout`: the server did not answer a request within the deadline;
 * - `ssh-disconnected`: the connection ended with requests outstanding;
 * - `ssh-sftp`: the SFTP server failed a request (no such file, permission denied…).
 */
export type SshErrorCode = BlockErrorCode | 'ssh-connect' | 'ssh-host-key' | 'ssh-auth' | 'ssh-timeout' | 'ssh-disconnected' | 'ssh-sftp';

/** A module imports only types from core, so this is a plain Error carrying a `code`, named as core's BlockError. */
export function sshError(message: string, code: SshErrorCode, cause?: unknown): Error & { code: SshErrorCode } {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { name: 'BlockError', code });
}
