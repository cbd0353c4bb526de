import type { Host } from '@tessera/core';
import { checkTlsEndpoint, checkTlsProperties } from './tls-creds-common.ts';
import type { ObjectProperties } from './types.ts';
import { keepUserObject } from './user-objects.ts';

/**
 * `tls-creds-anon,id=ID,endpoint=client|server[,dir=DIR]`: TLS without authentication (anonymous
 * Diffie-Hellman, TLS 1.2), as qemu's: it encrypts but proves nobody's identity. A server's DIR
 * may hold dh-params.pem; as in qemu nothing is read when the object is defined.
 */
export function defineTlsCredsAnon(_host: Host, id: string, properties: ObjectProperties): void {
  checkTlsProperties(properties, ['dir']);
  checkTlsEndpoint(properties);
  keepUserObject({ qomType: 'tls-creds-anon', id, properties });
}
