import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Directories of PEM files laid out as qemu's tls-creds-x509 reads them (`dir=`). */
export interface TlsDirectories {
  /** ca-cert.pem, server-cert.pem (for localhost and 127.0.0.1), server-key.pem. */
  readonly server: string;
  /** ca-cert.pem, client-cert.pem (subject O=Tessera\, Tests,CN=tessera client,EMAIL=…: a comma to escape), client-key.pem. */
  readonly client: string;
  /** ca-cert.pem of another CA, which signed nothing here. */
  readonly otherCa: string;
}

/**
 * A CA, a server and a client certificate it signs, and an unrelated CA, made with openssl
 * (P-256 keys: quick to make, and GnuTLS and OpenSSL both take them).
 */
export function makeTlsDirectories(root: string): TlsDirectories {
  const server = join(root, 'tls-server');
  const client = join(root, 'tls-client');
  const otherCa = join(root, 'tls-other-ca');
  const work = join(root, 'tls-work');
  for (const d of [server, client, otherCa, work]) mkdirSync(d, { recursive: true });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const selfSigned = (dir: string, name: string) => {
    openssl('req', '-x509', ...key, '-keyout', join(work, `${name}-key.pem`), '-out', join(dir, 'ca-cert.pem'), '-days', '2', '-subj', `/CN=${name}`);
  };
  selfSigned(server, 'Tessera test CA');
  selfSigned(otherCa, 'Another CA');
  const caKey = join(work, 'Tessera test CA-key.pem');
  const sign = (role: 'server' | 'client', extensions: string) => {
    const csr = join(work, `${role}.csr`);
    const ext = join(work, `${role}.ext`);
    writeFileSync(ext, extensions);
    const out = role === 'server' ? server : client;
    openssl('req', ...key, '-keyout', join(out, `${role}-key.pem`), '-out', csr, '-subj', role === 'server' ? '/CN=localhost' : '/O=Tessera, Tests/CN=tessera client/emailAddress=client@example.test');
    openssl('x509', '-req', '-in', csr, '-CA', join(server, 'ca-cert.pem'), '-CAkey', caKey, '-CAcreateserial', '-out', join(out, `${role}-cert.pem`), '-days', '2', '-extfile', ext);
  };
  sign('server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n');
  sign('client', 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n');
  copyFileSync(join(server, 'ca-cert.pem'), join(client, 'ca-cert.pem'));
  return { server, client, otherCa };
}
