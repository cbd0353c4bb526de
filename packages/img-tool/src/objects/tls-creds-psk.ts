import type { Host } from '@tessera/core';
import { DEFAULT_PSK_USERNAME, pskKeyFor, readPskKeys } from '@tessera/module-kit/tls/psk-keys';
import { checkTlsEndpoint, checkTlsProperties } from './tls-creds-common.ts';
import type { ObjectProperties } from './types.ts';
import { keepUserObject } from './user-objects.ts';

/**
 * `tls-creds-psk,id=ID,dir=DIR,endpoint=client|server[,username=NAME]`: pre-shared keys from
 * DIR/keys.psk (`username:hexkey` lines), as qemu's. Like qemu the file is read when the object is
 * defined: a client's username (default `qemu`) must have a key there; a server takes no username.
 */
export function defineTlsCredsPsk(_host: Host, id: string, properties: ObjectProperties): void {
  checkTlsProperties(properties, ['dir', 'username']);
  const endpoint = checkTlsEndpoint(properties);
  const dir = properties.dir;
  if (dir === undefined) throw new Error(`Missing 'dir' property value`);
  if (endpoint === 'server') {
    if (properties.username !== undefined) throw new Error('username should not be set when endpoint=server');
    readPskKeys(dir);
  } else {
    pskKeyFor(dir, properties.username ?? DEFAULT_PSK_USERNAME);
  }
  keepUserObject({ qomType: 'tls-creds-psk', id, properties });
}
