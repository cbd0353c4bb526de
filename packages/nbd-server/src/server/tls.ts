// TLS for the server side (NBD_OPT_STARTTLS): the `--object tls-creds-*,endpoint=server` that
// `--tls-creds ID` names (x509: qemu's file names in dir; psk: DIR/keys.psk; anon), and the
// `--tls-authz ID` check of the identity the handshake proved. A client refused here is logged
// as qemu-nbd logs it ("option negotiation failed: …") and its connection closed.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, DEFAULT_CIPHERS, TLSSocket, type TLSSocketOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { UserObject } from '@tessera/core';
import { readPskKeys } from '@tessera/module-kit/tls/psk-keys';
import { OptionError } from '../cli/options.ts';
import { authorizer, distinguishedName, type Authorizer } from './tls-authz.ts';

export interface TlsServerSettings {
  /** The TLSSocket options of one connection; `identity` receives the PSK username a client names, and whether it has a key. */
  readonly socketOptions: (identity: (username: string, known: boolean) => void) => TLSSocketOptions;
  readonly kind: 'x509' | 'psk' | 'anon';
  /** Clients must present a certificate the CA signed (x509's verify-peer, on by default). */
  readonly verifyPeer: boolean;
  readonly authorize?: Authorizer;
  /** Where refusals are told (qemu-nbd prints them on stderr). */
  readonly report: (message: string) => void;
}

/** The credentials `--tls-creds ID` names among the defined objects, with qemu-nbd's messages. */
export function tlsSettings(objects: ReadonlyMap<string, UserObject> | undefined, id: string, authzId: string | undefined, report: (message: string) => void): TlsServerSettings {
  const creds = objects?.get(id);
  if (!creds) throw new OptionError(`Failed to get TLS creds: No TLS credentials with id '${id}'`);
  if (!creds.qomType.startsWith('tls-creds-')) throw new OptionError(`Failed to get TLS creds: Object with id '${id}' is not TLS credentials`);
  const p = creds.properties;
  if ((p.endpoint ?? 'client') !== 'server') throw new OptionError('Failed to get TLS creds: Expected TLS credentials for a server endpoint');
  const verifyPeer = !['off', 'no', 'false'].includes(p['verify-peer'] ?? 'on');
  const authorize = authzId === undefined ? undefined : authorizer(objects, authzId);
  const base = { verifyPeer, report, ...(authorize ? { authorize } : {}) };
  switch (creds.qomType) {
    case 'tls-creds-x509': {
      // qemu 7.2 skips the authz check without a verified certificate; a check that cannot run is refused instead.
      if (authorize && !verifyPeer) throw new OptionError(`--tls-authz needs verified client certificates: tls-creds-x509 '${id}' has verify-peer=off`);
      const context = x509Context(p.dir, verifyPeer);
      return { ...base, kind: 'x509', socketOptions: () => ({ secureContext: context, requestCert: verifyPeer, rejectUnauthorized: verifyPeer }) };
    }
    case 'tls-creds-psk': {
      const dir = p.dir!;
      return {
        ...base,
        kind: 'psk',
        // The key file is read at each handshake, as GnuTLS does: keys added later are taken.
        // (TLSSocket takes a server's pskCallback as tls.Server passes it; its type lists it for tls.Server only.)
        socketOptions: (identity) => ({
          ciphers: `${DEFAULT_CIPHERS}:PSK`,
          pskCallback: (_socket: TLSSocket, username: string): Buffer | null => {
            try {
              const key = readPskKeys(dir).get(username);
              identity(username, key !== undefined);
              return key ?? null;
            } catch (error) {
              identity(username, false);
              report(`option negotiation failed: ${(error as Error).message}`);
              return null;
            }
          },
        }) as TLSSocketOptions,
      };
    }
    case 'tls-creds-anon': {
      // Nobody's identity is proved: an authz check could never pass (qemu 7.2 skips it silently).
      if (authorize) throw new OptionError(`--tls-authz needs credentials that identify clients (tls-creds-x509 or tls-creds-psk), not tls-creds-anon '${id}'`);
      const dhParams = p.dir !== undefined && existsSync(join(p.dir, 'dh-params.pem')) ? readFileSync(join(p.dir, 'dh-params.pem')) : 'auto';
      // Anonymous Diffie-Hellman exists up to TLS 1.2 only (GnuTLS's ANON-DH, OpenSSL's ADH).
      return { ...base, kind: 'anon', socketOptions: () => ({ ciphers: 'aNULL:!eNULL:@SECLEVEL=0', maxVersion: 'TLSv1.2', dhparam: dhParams }) };
    }
    default:
      throw new OptionError(`Failed to get TLS creds: ${creds.qomType} is not supported`);
  }
}

function x509Context(dir: string | undefined, verifyPeer: boolean) {
  if (dir === undefined) throw new OptionError(`Failed to get TLS creds: Missing 'dir' property value`);
  const file = (name: string, optional = false): Buffer | undefined => {
    try {
      return readFileSync(join(dir, name));
    } catch (error) {
      if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new OptionError(`Unable to access credentials ${join(dir, name)}: ${describe(error)}`);
    }
  };
  const ca = file('ca-cert.pem', !verifyPeer);
  return createSecureContext({ cert: file('server-cert.pem'), key: file('server-key.pem'), ...(ca ? { ca } : {}) });
}

/**
 * Wrap the plain socket in TLS as the server; resolves once the handshake is done and the
 * client's identity passed --tls-authz. A refusal is reported and rejects.
 */
export async function startServerTls(socket: Socket, settings: TlsServerSettings): Promise<TLSSocket> {
  let username: string | undefined;
  let knownUser = false;
  const secure = new TLSSocket(socket, {
    isServer: true,
    ...settings.socketOptions((name, known) => {
      username = name;
      knownUser = known;
    }),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', resolve);
      secure.once('error', reject);
      secure.once('close', () => reject(new Error('The TLS connection was non-properly terminated.')));
    });
  } catch (error) {
    settings.report(`option negotiation failed: TLS handshake failed: ${handshakeWords(error as Error, settings, username, knownUser)}`);
    secure.destroy();
    throw error;
  }
  const authorize = settings.authorize;
  if (authorize) {
    const identity = settings.kind === 'psk' ? username! : distinguishedName(secure.getPeerX509Certificate()?.subject ?? '');
    if (!authorize(identity)) {
      settings.report(`option negotiation failed: TLS ${settings.kind === 'psk' ? 'PSK' : 'x509'} authz check for ${identity} is denied`);
      secure.destroy();
      throw new Error('client refused by --tls-authz');
    }
  }
  return secure;
}

/** GnuTLS's words (qemu-nbd's log) for a failed handshake, and what was wrong where we know. */
function handshakeWords(error: Error, settings: TlsServerSettings, username: string | undefined, knownUser: boolean): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (settings.kind === 'psk' && username !== undefined) {
    // Without a key OpenSSL goes on to certificate authentication, which fails for want of one.
    if (!knownUser) return `An illegal parameter has been received. (PSK username '${username}' is not in keys.psk)`;
    if (code === 'ERR_SSL_BINDER_DOES_NOT_VERIFY' || code.includes('DECRYPT')) return `An illegal parameter has been received. (the client's key for PSK username '${username}' is not the one in keys.psk)`;
  }
  if (code === 'ERR_SSL_NO_SHARED_CIPHER') return 'No supported cipher suites have been found.';
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'No certificate was found.';
  if (code.startsWith('ERR_SSL_')) return `${error.message.split('\n')[0]}`;
  return error.message;
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  return error instanceof Error ? error.message : String(error);
}
