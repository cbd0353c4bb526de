// NBD over TLS with qemu's tls-creds-psk and tls-creds-anon against qemu-nbd: tessera-img reads
// and writes the export's bytes with the right pre-shared key (both configurations), and anonymous
// TLS; a wrong key, an unknown user and a missing username are refused in qemu-img's words (the
// same command run through qemu-img is the oracle), as are the new --object types' mistakes.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run, type Configuration } from '../../../../tools/test-support/executables.ts';
import { qemuImg } from '../../../../tools/test-support/qemu-img.ts';
import { freePort, startServer, type RunningServer } from './helpers/servers.ts';

let dir: string;
let pskPort: number;
let anonPort: number;
const servers: RunningServer[] = [];
const keys = (name: string) => join(dir, name);
const psk = (name: string, user?: string) => ['--object', `tls-creds-psk,id=tls0,dir=${keys(name)},endpoint=client${user ? `,username=${user}` : ''}`];
const anon = ['--object', 'tls-creds-anon,id=tls0,endpoint=client'];
const opts = (port: number) => `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=disk,tls-creds=tls0`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-nbd-psk-'));
  const key = randomBytes(32).toString('hex');
  const keyFile = (name: string, text: string) => {
    mkdirSync(keys(name));
    writeFileSync(join(keys(name), 'keys.psk'), text);
  };
  keyFile('server', `alice:${key}\n`);
  keyFile('alice', `# a line that is no entry\nalice:${key}\n`);
  keyFile('wrong', `alice:${randomBytes(32).toString('hex')}\n`);
  keyFile('carol', `carol:${key}\n`);
  const disk = join(dir, 'disk.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, '2M']);
  execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 64k', '-c', 'write -P 0x6b 1M 4k', disk], { stdio: 'ignore' });
  pskPort = await freePort();
  anonPort = await freePort();
  const common = ['-f', 'raw', '-t', '-e', '8', '-x', 'disk', '-b', '127.0.0.1'];
  servers.push(
    await startServer('qemu-nbd', ['--object', `tls-creds-psk,id=t,dir=${keys('server')},endpoint=server`, '--tls-creds', 't', ...common, '-p', String(pskPort), disk], pskPort),
    await startServer('qemu-nbd', ['--object', 'tls-creds-anon,id=t,endpoint=server', '--tls-creds', 't', ...common, '-r', '-p', String(anonPort), disk], anonPort),
  );
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(configurations)('NBD over TLS with a pre-shared key (%s)', (configuration: Configuration) => {
  const tool = (args: string[]) => run(executable('img-tool', configuration), args, { cwd: dir, timeoutMs: 20_000 });

  it("convert reads the export's bytes through PSK and through anonymous TLS; convert -n writes it (qemu-img compare agrees)", async () => {
    const out = join(dir, `out-${configuration}.raw`);
    for (const [creds, port] of [[psk('alice', 'alice'), pskPort], [anon, anonPort]] as const) {
      const converted = await tool(['convert', ...creds, '--image-opts', opts(port), '-O', 'raw', out]);
      expect([converted.code, converted.stderr]).toEqual([0, '']);
      expect(readFileSync(out).equals(readFileSync(join(dir, 'disk.raw')))).toBe(true);
    }
    execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P 0x${configuration === 'modular' ? '31' : '32'} 512k 64k`, out], { stdio: 'ignore' });
    const written = await tool(['convert', '-n', ...psk('alice', 'alice'), '-O', 'raw', out, '--target-image-opts', opts(pskPort)]);
    expect([written.code, written.stderr]).toEqual([0, '']);
    const compared = qemuImg(['compare', ...psk('alice', 'alice'), '--image-opts', `driver=raw,file.driver=file,file.filename=${out}`, opts(pskPort)]);
    expect(compared).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
    rmSync(out);
  });
});

describe('NBD over TLS with a pre-shared key refused (modular): exit 1, one line', () => {
  const tool = (args: string[]) => run(executable('img-tool', 'modular'), args, { cwd: dir, timeoutMs: 20_000 });

  it("a wrong key and an unknown user: qemu-img's words and what to check; anonymous TLS to a PSK server is refused", async () => {
    for (const [name, user] of [['wrong', 'alice'], ['carol', 'carol']] as const) {
      const args = ['info', ...psk(name, user), '--image-opts', opts(pskPort)];
      expect(qemuImg(args).stderr).toContain('TLS handshake failed: The TLS connection was non-properly terminated.');
      const ours = await tool(args);
      expect([ours.code, ours.stdout]).toEqual([1, '']);
      expect(ours.stderr).toBe(
        `tessera-img: Could not open '${opts(pskPort)}': Could not open 'nbd://127.0.0.1:${pskPort}/disk': TLS handshake failed: The TLS connection was non-properly terminated. (the server refused the pre-shared key: check that it has username '${user}' with the key in ${join(keys(name), 'keys.psk')})\n`,
      );
    }
    const anonToPsk = await tool(['info', ...anon, '--image-opts', opts(pskPort)]);
    expect([anonToPsk.code, anonToPsk.stdout]).toEqual([1, '']);
    expect(anonToPsk.stderr).toBe(
      `tessera-img: Could not open '${opts(pskPort)}': Could not open 'nbd://127.0.0.1:${pskPort}/disk': TLS handshake failed: The TLS connection was non-properly terminated. (the server may not take anonymous TLS: it may need tls-creds-x509 or tls-creds-psk)\n`,
    );
  });

  it("--object mistakes for tls-creds-psk, tls-creds-anon and the authz types: qemu-img's messages", async () => {
    const cases: string[][] = [
      ['info', ...psk('alice'), 'disk.raw'], // the default username, qemu, has no key
      ['info', ...psk('nowhere', 'alice'), 'disk.raw'],
      ['info', '--object', 'tls-creds-psk,id=tls0,endpoint=client', 'disk.raw'],
      ['info', '--object', `tls-creds-psk,id=tls0,dir=${keys('server')},endpoint=server,username=alice`, 'disk.raw'],
      ['info', '--object', 'tls-creds-anon,id=tls0,endpoint=client,bogus=1', 'disk.raw'],
      ['info', '--object', 'authz-simple,id=a', 'disk.raw'],
      ['info', '--object', 'authz-list,id=a,policy=maybe', 'disk.raw'],
      ['info', '--object', 'authz-list,id=a,rules.1.match=x,rules.1.policy=allow', 'disk.raw'],
      ['info', '--object', 'authz-list,id=a,rules.0.match=x,rules.0.policy=allow,rules.0.format=regex', 'disk.raw'],
      ['info', '--object', 'authz-listfile,id=a,filename=rules.json', 'disk.raw'],
      ['info', '--object', 'tls-creds-anon,id=tls0,endpoint=server', '--image-opts', opts(anonPort)],
      ['info', '--object', 'authz-simple,id=tls0,identity=x', '--image-opts', opts(anonPort)],
    ];
    for (const args of cases) {
      const theirs = qemuImg(args);
      const ours = await tool(args);
      expect([ours.code, ours.stderr], args.join(' ')).toEqual([theirs.code, theirs.stderr.replace(/^qemu-img: /gm, 'tessera-img: ')]);
    }
  });
});
