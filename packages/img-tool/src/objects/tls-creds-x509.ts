import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Host } from '@tessera/core';
import { describeErrno } from '../image/errno.ts';
import type { ObjectProperties } from './types.ts';
import { keepUserObject } from './user-objects.ts';

const PROPERTIES = new Set(['dir', 'endpoint', 'verify-peer', 'priority', 'sanity-check', 'passwordid']);

/**
 * `tls-creds-x509`: a directory of PEM files (ca-cert.pem, and client-cert.pem/client-key.pem or
 * server-cert.pem/server-key.pem), as qemu's. Like qemu, the files an endpoint cannot do without
 * are checked when the object is defined, so a typo in `dir` fails before any connection.
 */
export function defineTlsCredsX509(_host: Host, id: string, properties: ObjectProperties): void {
  for (const key of Object.keys(properties)) if (!PROPERTIES.has(key)) throw new Error(`Parameter '${key}' is unexpected`);
  const endpoint = properties.endpoint ?? 'client';
  if (endpoint !== 'client' && endpoint !== 'server') throw new Error(`Parameter 'endpoint' does not accept value '${endpoint}'`);
  for (const name of ['verify-peer', 'sanity-check']) {
    const value = properties[name];
    if (value !== undefined && !['on', 'off', 'yes', 'no', 'true', 'false'].includes(value)) throw new Error(`Parameter '${name}' expects 'on' or 'off'`);
  }
  if (properties.dir === undefined) throw new Error(`Missing 'dir' property value`);
  const verifyPeer = !['off', 'no', 'false'].includes(properties['verify-peer'] ?? 'on');
  const required = endpoint === 'server' ? ['server-cert.pem', 'server-key.pem', ...(verifyPeer ? ['ca-cert.pem'] : [])] : verifyPeer ? ['ca-cert.pem'] : [];
  for (const file of required) {
    const path = join(properties.dir, file);
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      throw new Error(`Unable to access credentials ${path}: ${describeErrno(code) ?? code}`);
    }
  }
  keepUserObject({ qomType: 'tls-creds-x509', id, properties });
}
