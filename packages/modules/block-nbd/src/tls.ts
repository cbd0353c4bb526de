import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { UserObject } from '@tessera/core';
import { DEFAULT_PSK_USERNAME, pskKeyFor } from '@tessera/module-kit/tls/psk-keys';
import { nbdError } from './errors.ts';
import { WireReader } from '@tessera/module-kit/socket/wire-reader';

/** What NBD_OPT_STARTTLS's handshake uses: qemu's tls-creds-x509, -psk or -anon object, read now. */
export type NbdTlsCredentials = X509Credentials | PskCredentials | AnonCredentials;

interface X509Credentials {
  readonly kind: 'x509';
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

/** A pre-shared key: the server proves it knows the key (no certificate). */
interface PskCredentials {
  readonly kind: 'psk';
  readonly id: string;
  readonly username: string;
  readonly key: Buffer;
  readonly dir: string;
}

/** Anonymous Diffie-Hellman: encrypted, nobody authenticated (qemu's tls-creds-anon). */
interface AnonCredentials {
  readonly kind: 'anon';
  readonly id: string;
}

/**
 * The credentials `tls-creds=ID` names, with qemu's messages when the id names nothing or not a
 * client's TLS credentials. Files are read now, so a missing one fails before connecting.
 */
export function tlsCredentials(id: string, objects: ReadonlyMap<string, UserObject> | undefined, hostname: string | undefined): NbdTlsCredentials {
  const object = objects?.get(id);
  if (!object) throw nbdError(`No TLS credentials with id '${id}'`, 'invalid-option');
  if (!object.qomType.startsWith('tls-creds-')) throw nbdError(`Object with id '${id}' is not TLS credentials`, 'invalid-option');
  const { dir, endpoint = 'client' } = object.properties;
  if (endpoint !== 'client') throw nbdError('Expected TLS credentials for a client endpoint', 'invalid-option');
  if (object.qomType === 'tls-creds-anon') return { kind: 'anon', id };
  if (dir === undefined) throw nbdError(`Missing 'dir' property value`, 'invalid-option');
  if (object.qomType === 'tls-creds-psk') {
    const username = object.properties.username ?? DEFAULT_PSK_USERNAME;
    try {
      return { kind: 'psk', id, username, key: pskKeyFor(dir, username), dir };
    } catch (error) {
      throw nbdError((error as Error).message, 'invalid-option', error);
    }
  }
  if (object.qomType !== 'tls-creds-x509') throw nbdError(`TLS credentials '${id}' are ${object.qomType}, which the nbd client does not take`, 'unsupported-feature');
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
  return { kind: 'x509', id, ...(ca ? { ca } : {}), ...(cert ? { cert, key } : {}), ...(crl ? { crl } : {}), verifyPeer, ...(hostname !== undefined ? { hostname } : {}) };
}

/**
 * node:tls, loaded when a connection asks for TLS: loading it costs an open of every nbd:// URL
 * about 10-15 ms (OpenSSL's set-up), which a plain connection does not need.
 */
const tls = () => process.getBuiltinModule('node:tls');

/** node:tls's options for the credentials' kind. */
function connectOptions(credentials: NbdTlsCredentials): ConnectionOptions {
  const { checkServerIdentity, DEFAULT_CIPHERS } = tls();
  switch (credentials.kind) {
    case 'psk':
      // TLS 1.3 PSK (what GnuTLS picks), and TLS 1.2's PSK suites for older peers; no certificate to check.
      return {
        ciphers: `${DEFAULT_CIPHERS}:PSK`,
        pskCallback: () => ({ psk: credentials.key, identity: credentials.username }),
        checkServerIdentity: () => undefined,
      };
    case 'anon':
      // Anonymous Diffie-Hellman exists up to TLS 1.2 only (GnuTLS's ANON-DH, OpenSSL's ADH).
      return { ciphers: 'aNULL:!eNULL:@SECLEVEL=0', maxVersion: 'TLSv1.2', rejectUnauthorized: false, checkServerIdentity: () => undefined };
    case 'x509':
      return {
        ...(credentials.ca ? { ca: credentials.ca } : {}),
        ...(credentials.cert ? { cert: credentials.cert, key: credentials.key } : {}),
        ...(credentials.crl ? { crl: credentials.crl } : {}),
        rejectUnauthorized: credentials.verifyPeer,
        // SNI only for DNS names (an address is no server name).
        ...(credentials.hostname !== undefined && !/^[\d.]+$|:/.test(credentials.hostname) ? { servername: credentials.hostname } : {}),
        checkServerIdentity: (_host, certificate) =>
          credentials.verifyPeer && credentials.hostname !== undefined ? checkServerIdentity(credentials.hostname, certificate) : undefined,
      };
  }
}

/**
 * The TLS handshake on a connection whose NBD_OPT_STARTTLS the server acknowledged: the rest of
 * the handshake and the transmission go through the returned socket and reader. A certificate the
 * server shows is checked against the CA and the host name; a refusal says why in qemu's words.
 */
export async function startTls(plain: { readonly socket: Socket; readonly reader: WireReader }, credentials: NbdTlsCredentials): Promise<{ socket: TLSSocket; reader: WireReader }> {
  const socket = plain.socket;
  const secure = tls().connect({ socket, ...connectOptions(credentials) });
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
    secure.once('close', () => setImmediate(() => reject(failure ?? nbdError(closedWords(credentials), 'nbd-tls'))));
  });
  return { socket: secure, reader };
}

/** The server ended the handshake without a word: with a PSK, what GnuTLS servers do for a wrong key or an unknown user. */
function closedWords(credentials: NbdTlsCredentials): string {
  if (credentials.kind === 'anon') return 'TLS handshake failed: The TLS connection was non-properly terminated. (the server may not take anonymous TLS: it may need tls-creds-x509 or tls-creds-psk)';
  if (credentials.kind !== 'psk') return 'the server closed the connection during the TLS handshake';
  return `TLS handshake failed: The TLS connection was non-properly terminated. (the server refused the pre-shared key: check that it has username '${credentials.username}' with the key in ${join(credentials.dir, 'keys.psk')})`;
}

/** qemu's (GnuTLS's) words for a refused certificate or key, and what to check. */
function describeTlsError(error: Error, credentials: NbdTlsCredentials): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (credentials.kind === 'psk' && (code === 'ECONNRESET' || code.startsWith('ERR_SSL_'))) {
    const alert = code.startsWith('ERR_SSL_TLSV1_ALERT') || code.startsWith('ERR_SSL_SSLV3_ALERT');
    return alert
      ? `TLS handshake failed: A TLS fatal alert has been received. (the server refused the pre-shared key: check that it has username '${credentials.username}' with the key in ${join(credentials.dir, 'keys.psk')})`
      : closedWords(credentials);
  }
  if (credentials.kind === 'anon' && (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' || code === 'ERR_SSL_NO_CIPHERS_AVAILABLE')) {
    return 'TLS handshake failed: No supported cipher suites have been found. (the server does not take anonymous TLS: it needs tls-creds-x509 or tls-creds-psk)';
  }
  if (credentials.kind === 'anon' && code === 'ECONNRESET') return closedWords(credentials);
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `TLS handshake failed: The certificate hasn't got a known issuer (the CA of TLS credentials '${credentials.id}' did not sign the server's certificate)`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS handshake failed: Certificate does not match the hostname ${credentials.kind === 'x509' ? credentials.hostname : ''} (set tls-hostname to the name the certificate carries)`;
    case 'CERT_HAS_EXPIRED':
      return 'TLS handshake failed: The certificate has expired';
    case 'CERT_NOT_YET_VALID':
      return 'TLS handshake failed: The certificate is not yet activated';
    default:
      return `TLS handshake failed: ${error.message}`;
  }
}
