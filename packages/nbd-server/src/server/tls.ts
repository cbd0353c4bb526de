// TLS for the server side (NBD_OPT_STARTTLS): qemu's `--object tls-creds-x509,id=ID,dir=DIR,
// endpoint=server[,verify-peer=on|off]` named by `--tls-creds ID`, read from qemu's file names.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { Socket } from 'node:net';
import { OptionError } from '../cli/options.ts';

export interface TlsServerSettings {
  readonly context: SecureContext;
  /** Clients must present a certificate the CA signed (qemu's verify-peer, on by default). */
  readonly verifyPeer: boolean;
}

/** The credentials `--tls-creds ID` names among the `--object` definitions. */
export function tlsSettings(objects: readonly string[], id: string): TlsServerSettings {
  const definitions = objects.map(parseObject);
  const creds = definitions.find((o) => o.id === id);
  if (!creds || creds['qom-type'] !== 'tls-creds-x509') throw new OptionError(`Failed to get TLS creds: No TLS credentials with id '${id}'`);
  if ((creds.endpoint ?? 'client') !== 'server') {
    throw new OptionError(`Failed to get TLS creds: Expecting TLS credentials with a server endpoint`);
  }
  const dir = creds.dir;
  if (dir === undefined) throw new OptionError(`Failed to get TLS creds: tls-creds-x509 '${id}' needs dir=DIR`);
  const file = (name: string, optional = false): Buffer | undefined => {
    try {
      return readFileSync(join(dir, name));
    } catch (error) {
      if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new OptionError(`Unable to access credentials ${join(dir, name)}: ${describe(error)}`);
    }
  };
  const verifyPeer = !['off', 'no', 'false'].includes(creds['verify-peer'] ?? 'on');
  const ca = file('ca-cert.pem', !verifyPeer);
  const context = createSecureContext({ cert: file('server-cert.pem'), key: file('server-key.pem'), ...(ca ? { ca } : {}) });
  return { context, verifyPeer };
}

/** Wrap the plain socket in TLS as the server; resolves once the handshake is done. */
export function startServerTls(socket: Socket, settings: TlsServerSettings): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: settings.context,
      requestCert: settings.verifyPeer,
      rejectUnauthorized: settings.verifyPeer,
    });
    secure.once('secure', () => resolve(secure));
    secure.once('error', reject);
  });
}

/** `type,key=value,…` (qemu's object syntax). */
function parseObject(text: string): Record<string, string> {
  const parts = text.split(',');
  const result: Record<string, string> = {};
  parts.forEach((part, i) => {
    const eq = part.indexOf('=');
    if (eq < 0 && i === 0) result['qom-type'] = part;
    else if (eq >= 0) result[part.slice(0, eq)] = part.slice(eq + 1);
  });
  return result;
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  return error instanceof Error ? error.message : String(error);
}
