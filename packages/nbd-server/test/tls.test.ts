// tessera-nbd's TLS beyond x509 against the real clients: PSK (qemu's tls-creds-psk, keys.psk) with
// the right key, a wrong key and an unknown user; anonymous TLS; --tls-authz (authz-simple with
// the client certificate's DN as qemu-nbd words it, authz-list over PSK usernames) accepting and
// refusing; and tessera-img's PSK client against it. Refusals are logged as qemu-nbd logs them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { makeTlsDirectories, type TlsDirectories } from '../../modules/block-nbd/test/helpers/certificates.ts';
import { startServer } from '../../modules/block-nbd/test/helpers/servers.ts';
import { freePort, startTesseraNbd, tool, type RunningServer } from './helpers.ts';

let dir: string;
let raw: string;
let certs: TlsDirectories;
const psk = (name: string) => join(dir, name);
const aliceKey = randomBytes(32).toString('hex');

/** A tessera-nbd serving x.raw read-only over TLS on a free port, with what it logs. */
async function serve(tlsArgs: string[]): Promise<{ server: RunningServer; port: number; log: () => string }> {
  const port = await freePort();
  const server = await startTesseraNbd('modular', [...tlsArgs, '-r', '-t', '-e', '4', '-f', 'raw', '-x', 'disk', '-b', '127.0.0.1', '-p', String(port), raw], port);
  let log = '';
  server.process.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return { server, port, log: () => log };
}

const clientOpts = (port: number) => `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=disk,tls-creds=c`;
/** qemu-io reading the export's first 64 KiB, which must be the pattern 0x61. */
const qemuRead = (port: number, object: string) => tool('qemu-io', ['-r', '--object', object, '--image-opts', clientOpts(port), '-c', 'read -P 0x61 0 64k'], 15_000);
const pskClient = (dirName: string, user: string) => `tls-creds-psk,id=c,dir=${psk(dirName)},endpoint=client,username=${user}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-nbd-tls-'));
  raw = join(dir, 'x.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', raw, '1M']);
  execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x61 0 64k', raw], { stdio: 'ignore' });
  const keyFile = (name: string, lines: string[]) => {
    mkdirSync(psk(name));
    writeFileSync(join(psk(name), 'keys.psk'), `${lines.join('\n')}\n`);
  };
  const bobKey = randomBytes(32).toString('hex');
  keyFile('psk-server', [`alice:${aliceKey}`, `bob:${bobKey}`]);
  keyFile('psk-alice', [`alice:${aliceKey}`]);
  keyFile('psk-wrong', [`alice:${randomBytes(32).toString('hex')}`]);
  keyFile('psk-bob', [`bob:${bobKey}`]);
  keyFile('psk-carol', [`carol:${aliceKey}`]);
  certs = makeTlsDirectories(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tessera-nbd with tls-creds-psk and tls-creds-anon', () => {
  it('PSK: qemu-io with the right key reads the bytes; a wrong key and an unknown user are refused (exit 1), the server logs why', async () => {
    const { server, port, log } = await serve(['--object', `tls-creds-psk,id=t,dir=${psk('psk-server')},endpoint=server`, '--tls-creds', 't']);
    try {
      const right = await qemuRead(port, pskClient('psk-alice', 'alice'));
      expect([right.code, right.stderr]).toEqual([0, '']);
      expect(right.stdout).toContain('read 65536/65536 bytes at offset 0');
      // tessera-img's own PSK client against it: the bytes convert reads are the image's.
      const out = join(dir, 'from-psk.raw');
      const converted = await run(executable('img-tool', 'modular'), ['convert', '--object', pskClient('psk-alice', 'alice'), '--image-opts', clientOpts(port), '-O', 'raw', out], { timeoutMs: 20_000 });
      expect([converted.code, converted.stderr]).toEqual([0, '']);
      expect(readFileSync(out).equals(readFileSync(raw))).toBe(true);
      const ourWrong = await run(executable('img-tool', 'modular'), ['info', '--object', pskClient('psk-wrong', 'alice'), '--image-opts', clientOpts(port)], { timeoutMs: 20_000 });
      expect([ourWrong.code, ourWrong.stdout]).toEqual([1, '']);
      expect(ourWrong.stderr).toContain(`TLS handshake failed: A TLS fatal alert has been received. (the server refused the pre-shared key: check that it has username 'alice' with the key in ${join(psk('psk-wrong'), 'keys.psk')})\n`);

      const wrong = await qemuRead(port, pskClient('psk-wrong', 'alice'));
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/^qemu-io: can't open: TLS handshake failed: /);
      const unknown = await qemuRead(port, pskClient('psk-carol', 'carol'));
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^qemu-io: can't open: TLS handshake failed: /);
      expect(log()).toContain("tessera-nbd: option negotiation failed: TLS handshake failed: An illegal parameter has been received. (the client's key for PSK username 'alice' is not the one in keys.psk)\n");
      expect(log()).toContain("tessera-nbd: option negotiation failed: TLS handshake failed: An illegal parameter has been received. (PSK username 'carol' is not in keys.psk)\n");
      // The server goes on serving after refusals.
      expect((await qemuRead(port, pskClient('psk-bob', 'bob'))).code).toBe(0);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('anon: qemu-io with tls-creds-anon reads the bytes; a client without TLS is refused before any export', async () => {
    const { server, port } = await serve(['--object', 'tls-creds-anon,id=t,endpoint=server', '--tls-creds', 't']);
    try {
      const read = await qemuRead(port, 'tls-creds-anon,id=c,endpoint=client');
      expect([read.code, read.stderr]).toEqual([0, '']);
      const plain = await tool('qemu-io', ['-r', '-c', 'read 0 4k', `nbd://127.0.0.1:${port}/disk`]);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toContain('server reported: Option not permitted before TLS');
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('tessera-nbd --tls-authz', () => {
  it("x509 with authz-simple: the client certificate's DN as qemu-nbd words it is let in, another identity refused", async () => {
    const serverCreds = ['--object', `tls-creds-x509,id=t,dir=${certs.server},endpoint=server`, '--tls-creds', 't'];
    const client = `tls-creds-x509,id=c,dir=${certs.client},endpoint=client`;
    // qemu-nbd refusing the certificate prints the DN its authz compares: the oracle for ours.
    const port = await freePort();
    const qemu = await startServer('qemu-nbd', [...serverCreds, '--object', 'authz-simple,id=a,identity=nobody', '--tls-authz', 'a', '-r', '-t', '-f', 'raw', '-x', 'disk', '-b', '127.0.0.1', '-p', String(port), raw], port);
    let qemuLog = '';
    qemu.process.stderr!.on('data', (d: Buffer) => (qemuLog += d.toString()));
    try {
      expect((await qemuRead(port, client)).code).toBe(1);
      for (let i = 0; i < 100 && !qemuLog.includes('denied'); i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await qemu.stop();
    }
    const dn = /TLS x509 authz check for (.*) is denied/.exec(qemuLog)?.[1];
    expect(dn).toBe('O=Tessera\\, Tests,CN=tessera client,EMAIL=client@example.test');
    // In qemu's option syntax a comma inside a value is doubled.
    const allowed = await serve([...serverCreds, '--object', `authz-simple,id=a,identity=${dn!.replaceAll(',', ',,')}`, '--tls-authz', 'a']);
    const refused = await serve([...serverCreds, '--object', 'authz-simple,id=a,identity=CN=someone else', '--tls-authz', 'a']);
    try {
      const read = await qemuRead(allowed.port, client);
      expect([read.code, read.stderr]).toEqual([0, '']);
      const denied = await qemuRead(refused.port, client);
      expect([denied.code, denied.stdout]).toEqual([1, '']);
      expect(denied.stderr).toMatch(/^qemu-io: can't open: Failed to read option reply: /);
      expect(refused.log()).toContain(`tessera-nbd: option negotiation failed: TLS x509 authz check for ${dn} is denied\n`);
    } finally {
      await allowed.server.stop();
      await refused.server.stop();
    }
  }, 60_000);

  it('PSK with authz-list: a glob rule lets alice in, the list policy refuses bob though his key is right', async () => {
    const { server, port, log } = await serve([
      '--object', `tls-creds-psk,id=t,dir=${psk('psk-server')},endpoint=server`,
      '--object', 'authz-list,id=a,policy=deny,rules.0.match=al*,rules.0.policy=allow,rules.0.format=glob',
      '--tls-creds', 't', '--tls-authz', 'a',
    ]);
    try {
      expect((await qemuRead(port, pskClient('psk-alice', 'alice'))).code).toBe(0);
      const bob = await qemuRead(port, pskClient('psk-bob', 'bob'));
      expect(bob.code).toBe(1);
      expect(log()).toContain('tessera-nbd: option negotiation failed: TLS PSK authz check for bob is denied\n');
    } finally {
      await server.stop();
    }
  }, 60_000);

  it("TLS option mistakes: qemu-nbd's messages and exit code; an authz check that cannot run is refused at start", async () => {
    const server = `tls-creds-psk,id=t,dir=${psk('psk-server')},endpoint=server`;
    const cases: string[][] = [
      ['--tls-authz', 'a', raw],
      ['--tls-hostname', 'h', raw],
      ['--object', server, '--tls-creds', 't', '--tls-hostname', 'h', raw],
      ['--object', pskClient('psk-alice', 'alice'), '--tls-creds', 't', raw],
      ['--object', 'tls-creds-anon,id=t,endpoint=client', '--tls-creds', 't', raw],
      ['--object', 'authz-simple,id=t,identity=x', '--tls-creds', 't', raw],
      ['--object', `tls-creds-psk,id=t,dir=${dir},endpoint=server`, '--tls-creds', 't', raw],
      ['--object', `tls-creds-psk,id=t,dir=${psk('psk-server')},endpoint=server,username=alice`, raw],
      ['--object', `tls-creds-psk,id=t,dir=${psk('psk-alice')},username=carol`, raw],
      ['--object', 'authz-list,id=a,rules.0.match=x', raw],
      ['--object', 'authz-simple,id=a', raw],
    ];
    const runs = await Promise.all(cases.map(async (args) => ({ args, ours: await tool(process.execPath, [executable('nbd-server', 'modular'), ...args]), theirs: await tool('qemu-nbd', args, 5_000) })));
    for (const { args, ours, theirs } of runs) {
      expect([ours.code, ours.stderr], args.join(' ')).toEqual([1, theirs.stderr.replaceAll('qemu-nbd', 'tessera-nbd')]);
    }
    const ours = (...args: string[]) => tool(process.execPath, [executable('nbd-server', 'modular'), ...args, '-b', '127.0.0.1', '-p', '1', raw]);
    expect((await ours('--object', server, '--tls-creds', 't', '--tls-authz', 'nothere')).stderr).toBe('tessera-nbd: Cannot find QAuthZ object ID nothere\n');
    expect((await ours('--object', 'tls-creds-anon,id=t,endpoint=server', '--object', 'authz-simple,id=a,identity=x', '--tls-creds', 't', '--tls-authz', 'a')).stderr).toBe(
      "tessera-nbd: --tls-authz needs credentials that identify clients (tls-creds-x509 or tls-creds-psk), not tls-creds-anon 't'\n",
    );
  }, 60_000);
});
