import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { UserObject } from '@tessera/core';
import { nbdError } from './errors.ts';
import { WireReader } from '@tessera/module-kit/socket/wire-reader';

/** What NBD_OPT_STARTTLS's handshake uses: qemu's tls-creds-x509 object, read from its directory. */
export interface NbdTlsCredentials {
  readonly id: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly crl?: Buffer;
  /** Check the server's certificate (the object's verify-peer, on by default). */
  readonly verifyPeer: boolean;
  /** The name the certificate must carry: tls-hostname, else the server's host (none over a unix socket, as qemu). */
  readonly hostname?: string;
}

/**
 * The credentials `tls-creds=ID` names, with qemu's messages when the id names nothing or not a
 * client's x509 credentials. The PEM files are read now, so a missing one fails before connecting.
 */
export function tlsCredentials(id: string, objects: ReadonlyMap<string, UserObject> | undefined, hostname: string | undefined): NbdTlsCredentials {
  const object = objects?.get(id);
  if (!object) throw nbdError(`No TLS credentials with id '${id}'`, 'invalid-option');
  if (!object.qomType.startsWith('tls-creds')) throw nbdError(`Object with id '${id}' is not TLS credentials`, 'invalid-option');
  if (object.qomType !== 'tls-creds-x509') throw nbdError(`TLS credentials '${id}' are ${object.qomType}; only tls-creds-x509 is supported`, 'unsupported-feature');
  const { dir, endpoint = 'client' } = object.properties;
  if (endpoint !== 'client') throw nbdError('Expecting TLS credentials with a client endpoint', 'invalid-option');
  if (dir === undefined) throw nbdError(`Missing 'dir' property value`, 'invalid-option');
  const verifyPeer = !['off', 'no', 'false'].includes(object.properties['verify-peer'] ?? 'on');
  const file = (name: string, required: boolean): Buffer | undefined => {
    try {
      return readFileSync(join(dir, name));
    } catch (error) {
      if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw nbdError(`Unable to access credentials ${join(dir, name)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (error as Error).message}`, 'invalid-option');
    }
  };
  const ca = file('ca-cert.pem', verifyPeer);
  // A client certificate is optional (the server may not ask for one); its key goes with it.
  const cert = file('client-cert.pem', false);
  const key = cert ? file('client-key.pem', true) : undefined;
  const crl = file('ca-crl.pem', false);
  return { id, ...(ca ? { ca } : {}), ...(cert ? { cert, key } : {}), ...(crl ? { crl } : {}), verifyPeer, ...(hostname !== undefined ? { hostname } : {}) };
}

/**
 * The TLS handshake on a connection whose NBD_OPT_STARTTLS the server acknowledged: the rest of
 * the handshake and the transmission go through the returned socket and reader. A certificate the
 * server shows is checked against the CA and the host name; a refusal says why in qemu's words.
 */
export async function startTls(plain: { readonly socket: Socket; readonly reader: WireReader }, credentials: NbdTlsCredentials): Promise<{ socket: TLSSocket; reader: WireReader }> {
  const socket = plain.socket;
  const secure = tlsConnect({
    socket,
    ...(credentials.ca ? { ca: credentials.ca } : {}),
    ...(credentials.cert ? { cert: credentials.cert, key: credentials.key } : {}),
    ...(credentials.crl ? { crl: credentials.crl } : {}),
    rejectUnauthorized: credentials.verifyPeer,
    // SNI only for DNS names (an address is no server name).
    ...(credentials.hostname !== undefined && !/^[\d.]+$|:/.test(credentials.hostname) ? { servername: credentials.hostname } : {}),
    checkServerIdentity: (_host, certificate) =>
      credentials.verifyPeer && credentials.hostname !== undefined ? checkServerIdentity(credentials.hostname, certificate) : undefined,
  });
  let failure: Error | undefined;
  const reader = new WireReader(secure, () => failure ?? nbdError('the server closed the TLS connection', 'nbd-disconnected'));
  secure.on('error', (error) => {
    failure ??= nbdError(describeTlsError(error, credentials), 'nbd-tls', error);
    reader.fail(failure);
  });
  // The plain reader gets no bytes now (TLS reads the socket); it only ends, with the caller's
  // reason (the connect deadline, the connection lost), which then ends the handshake too.
  const plainEnded = plain.reader.read(1).then(
    () => undefined,
    (error: Error) => error,
  );
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', () => reject(failure));
    void plainEnded.then((error) => error && reject(error));
    secure.once('close', () => setImmediate(() => reject(failure ?? nbdError('the server closed the connection during the TLS handshake', 'nbd-tls'))));
  });
  return { socket: secure, reader };
}

/** qemu's (GnuTLS's) words for a refused certificate, and what to check. */
function describeTlsError(error: Error, credentials: NbdTlsCredentials): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `TLS handshake failed: The certificate hasn't got a known issuer (the CA of TLS credentials '${credentials.id}' did not sign the server's certificate)`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS handshake failed: Certificate does not match the hostname ${credentials.hostname} (set tls-hostname to the name the certificate carries)`;
    case 'CERT_HAS_EXPIRED':
      return 'TLS handshake failed: The certificate has expired';
    case 'CERT_NOT_YET_VALID':
      return 'TLS handshake failed: The certificate is not yet activated';
    default:
      return `TLS handshake failed: ${error.message}`;
  }
}
