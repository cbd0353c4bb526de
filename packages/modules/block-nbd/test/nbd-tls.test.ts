// NBD over TLS (NBD_OPT_STARTTLS) against qemu-nbd serving with x509 credentials the test makes:
// tessera-img takes qemu-img's `--object tls-creds-x509` and `tls-creds=` (in --image-opts and
// json:), shows what qemu-img shows through the same server, reads and writes the export's bytes,
// and refuses a server whose certificate its CA did not sign, or that does not carry the host name.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run, type Configuration } from '../../../../tools/test-support/executables.ts';
import { makeTlsDirectories, type TlsDirectories } from './helpers/certificates.ts';
import { freePort, startServer, type RunningServer } from './helpers/servers.ts';
import { qemuImg } from '../../../../tools/test-support/qemu-img.ts';

const MiB = 1024 * 1024;
let dir: string;
let certs: TlsDirectories;
let readPort: number;
let writePort: number;
const servers: RunningServer[] = [];


const clientCreds = () => ['--object', `tls-creds-x509,id=tls0,dir=${certs.client},endpoint=client`];
const exportOpts = (port: number, extra = '') => `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=disk,tls-creds=tls0${extra}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-nbd-tls-'));
  certs = makeTlsDirectories(dir);
  const raw = join(dir, 'disk.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', raw, '4M']);
  execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 64k', '-c', 'write -P 0x00 1M 1M', '-c', 'write -P 0x6b 3M 4k', raw], { stdio: 'ignore' });
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'target.raw'), '4M']);
  readPort = await freePort();
  writePort = await freePort();
  // The server asks for the client's certificate too (verify-peer defaults to on for a server).
  const serverCreds = ['--object', `tls-creds-x509,id=tls0,dir=${certs.server},endpoint=server`, '--tls-creds', 'tls0'];
  servers.push(
    await startServer('qemu-nbd', [...serverCreds, '-f', 'raw', '-r', '-t', '-e', '8', '-x', 'disk', '-b', '127.0.0.1', '-p', String(readPort), raw], readPort),
    await startServer('qemu-nbd', [...serverCreds, '-f', 'raw', '-t', '-e', '8', '-x', 'disk', '-b', '127.0.0.1', '-p', String(writePort), join(dir, 'target.raw')], writePort),
  );
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(configurations)('NBD over TLS (%s)', (configuration: Configuration) => {
  const tool = (args: string[]) => run(executable('img-tool', configuration), args, { cwd: dir, timeoutMs: 20_000 });

  it('info, info --output=json and map --output=json through TLS are qemu-img\'s (--image-opts and json:); convert reads the bytes', async () => {
    const spellings = [
      ['--image-opts', exportOpts(readPort)],
      [`json:{"driver":"raw","file":{"driver":"nbd","server":{"type":"inet","host":"127.0.0.1","port":${readPort}},"export":"disk","tls-creds":"tls0"}}`],
    ];
    for (const spelling of configuration === 'modular' ? spellings : spellings.slice(0, 1)) {
      for (const command of [['info'], ['info', '--output=json'], ['map', '--output=json']]) {
        const args = [...command, ...clientCreds(), ...spelling];
        const theirs = qemuImg(args);
        expect(theirs.code).toBe(0);
        const ours = await tool(args);
        expect([ours.code, ours.stderr, ours.stdout]).toEqual([0, '', theirs.stdout]);
      }
    }
    const out = join(dir, `out-${configuration}.raw`);
    const converted = await tool(['convert', ...clientCreds(), '--image-opts', exportOpts(readPort), '-O', 'raw', out]);
    expect([converted.code, converted.stderr]).toEqual([0, '']);
    expect(readFileSync(out).equals(readFileSync(join(dir, 'disk.raw')))).toBe(true);
    rmSync(out);
  });

  it('convert -n writes into the export through TLS: qemu-img compare over TLS finds it identical', async () => {
    const source = join(dir, `source-${configuration}.raw`);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', source, '4M']);
    execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P 0x3${configuration.length} 4096 ${MiB + 512}`, '-c', 'write -P 0x77 2M 100k', source], { stdio: 'ignore' });
    const converted = await tool(['convert', '-n', ...clientCreds(), '-O', 'raw', source, '--target-image-opts', exportOpts(writePort)]);
    expect([converted.code, converted.stderr]).toEqual([0, '']);
    expect(readFileSync(join(dir, 'target.raw')).equals(readFileSync(source))).toBe(true);
    const compared = qemuImg(['compare', ...clientCreds(), '--image-opts', `driver=raw,file.driver=file,file.filename=${source}`, exportOpts(writePort)]);
    expect(compared).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
    rmSync(source);
  });
});

describe('NBD over TLS refused (modular): one line naming the URL, exit 1', () => {
  const tool = (args: string[]) => run(executable('img-tool', 'modular'), args, { cwd: dir, timeoutMs: 20_000 });
  const url = () => `nbd://127.0.0.1:${readPort}/disk`;

  it('a server certificate another CA signed; a host name the certificate does not carry; no credentials for a server that requires TLS', async () => {
    const otherCa = ['--object', `tls-creds-x509,id=tls0,dir=${certs.otherCa},endpoint=client`];
    const wrongCa = await tool(['info', ...otherCa, '--image-opts', exportOpts(readPort)]);
    expect(qemuImg(['info', ...otherCa, '--image-opts', exportOpts(readPort)]).stderr).toContain("The certificate hasn't got a known issuer");
    expect([wrongCa.code, wrongCa.stdout]).toEqual([1, '']);
    expect(wrongCa.stderr).toBe(
      `tessera-img: Could not open '${exportOpts(readPort)}': Could not open '${url()}': TLS handshake failed: The certificate hasn't got a known issuer (the CA of TLS credentials 'tls0' did not sign the server's certificate)\n`,
    );
    const wrongName = await tool(['info', ...clientCreds(), '--image-opts', exportOpts(readPort, ',tls-hostname=elsewhere.example')]);
    expect([wrongName.code, wrongName.stdout]).toEqual([1, '']);
    expect(wrongName.stderr).toMatch(/^tessera-img: Could not open '.*': Could not open 'nbd:\/\/127\.0\.0\.1:\d+\/disk': TLS handshake failed: Certificate does not match the hostname elsewhere\.example \(set tls-hostname .*\)\n$/);
    const plain = await tool(['info', url()]);
    expect([plain.code, plain.stdout]).toEqual([1, '']);
    expect(plain.stderr).toMatch(new RegExp(`^tessera-img: Could not open '${url().replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}': the server requires TLS: give TLS credentials \\(--object tls-creds-x509,.*tls-creds=tls0\\).*\\n$`));
  });

  it('--object and tls-creds mistakes: qemu-img\'s messages', async () => {
    const cases: string[][] = [
      ['info', '--object', `tls-creds-x509,id=tls0,dir=${join(dir, 'nowhere')},endpoint=client`, 'disk.raw'],
      ['info', '--object', 'tls-creds-x509,id=tls0,endpoint=client', 'disk.raw'],
      ['info', '--object', `tls-creds-x509,id=0tls,dir=${certs.client}`, 'disk.raw'],
      ['info', '--object', `tls-creds-x509,id=tls0,dir=${certs.client},endpoint=sideways`, 'disk.raw'],
      ['info', '--object', 'no-such-type,id=x', 'disk.raw'],
      ['info', ...clientCreds(), '--image-opts', exportOpts(readPort).replace('tls-creds=tls0', 'tls-creds=tls9')],
      ['info', '--image-opts', `driver=nbd,server.type=inet,server.port=${readPort}`],
    ];
    for (const args of cases) {
      const theirs = qemuImg(args);
      const ours = await tool(args);
      expect([ours.code, ours.stderr]).toEqual([theirs.code, theirs.stderr.replace(/^qemu-img: /gm, 'tessera-img: ')]);
    }
  });
});
