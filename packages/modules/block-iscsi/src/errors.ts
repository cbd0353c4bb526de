import type { BlockErrorCode } from '@tessera/core';

/**
 * Codes of iSCSI failures a caller can tell apart (beside core's block codes):
 * - `iscsi-connect`: the target portal could not be reached (refused, no route, deadline);
 * - `iscsi-timeout`: the target did not answer the login or a command within its deadline;
 * - `iscsi-disconnected`: the connection ended (the target went away) with commands outstanding;
 * - `iscsi-protocol`: the target broke the protocol (a length or count out of range);
 * - `iscsi-auth`: the login was refused for authentication (wrong or missing CHAP secret);
 * - `iscsi-no-target`: the target has no such name, or no such LUN;
 * - `iscsi-check-condition`: a SCSI command ended in CHECK CONDITION (sense key/ASC in the message).
 */
export type IscsiErrorCode =
  | BlockErrorCode
  | 'iscsi-connect'
  | 'iscsi-timeout'
  | 'iscsi-disconnected'
  | 'iscsi-protocol'
  | 'iscsi-auth'
  | 'iscsi-no-target'
  | 'iscsi-check-condition';

/** A module imports only types from core, so this is a plain Error with a `code`, named as core's BlockError. */
export function iscsiError(message: string, code: IscsiErrorCode, cause?: unknown): Error & { code: IscsiErrorCode } {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { name: 'BlockError', code });
}
