// tessera-img against a real iSCSI target (tgtd, started here on a free loopback port): the same
// info, map, compare and bytes as qemu-img on the same URLs, writes through a CHAP target that
// qemu-img compare accepts, and every failure a one-line error naming the URL in bounded time.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run, type Configuration } from '../../../../tools/test-support/executables.ts';
import { freePort, startTgtd, type RunningTgtd } from './helpers/tgtd.ts';
import { qemuImg } from '../../../../tools/test-support/qemu-img.ts';

const MiB = 1024 * 1024;
const KiB = 1024;
const PLAIN = 'iqn.2026-12.org.tessera.test:plain';
const CHAP = 'iqn.2026-12.org.tessera.test:chap';
const BIG = 'iqn.2026-12.org.tessera.test:big';
const chap = { user: 'tessera', password: 'chap-secret-16ch' };
let dir: string;
let tgtd: RunningTgtd;


beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-iscsi-'));
  const fragmented = join(dir, 'fragmented.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', fragmented, '8M']);
  const writes = [
    ['0x11', 0, 64 * 1024],
    ['0x22', 300 * 1024, 1000 * 512],
    ['0x33', 3 * MiB + 512, 5 * 512],
    ['0x44', 5 * MiB, 2 * MiB],
    ['0x55', 8 * MiB - 4096, 4096],
  ] as const;
  execFileSync('qemu-io', ['-f', 'raw', ...writes.flatMap(([p, at, n]) => ['-c', `write -P ${p} ${at} ${n}`]), fragmented], { stdio: 'ignore' });
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'writable.raw'), '8M']);
  execFileSync('truncate', ['-s', '256M', join(dir, 'big.raw')]);
  tgtd = await startTgtd([
    { tid: 1, iqn: PLAIN, file: fragmented },
    { tid: 2, iqn: CHAP, file: join(dir, 'writable.raw'), chap },
  ]);
}, 30_000);

afterAll(async () => {
  await tgtd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(configurations)('iscsi LUNs (%s)', (configuration: Configuration) => {
  const tool = (args: string[]) => run(executable('img-tool', configuration), args, { cwd: dir });

  it('info, info --output=json and map --output=json are qemu-img\'s; compare and convert -O raw give the LUN\'s bytes', async () => {
    const url = tgtd.url(PLAIN);
    // qemu names a LUN by a json: pseudo-filename of its options (raw over it: {"driver": "raw", "file": {…}}), and
    // shows the dirty flag its iscsi driver reports; the human map's file column names the LUN alike.
    const portal = `127.0.0.1:${tgtd.port}`;
    const spellings = [[url]];
    // The LUN named by qemu's options alone (the modular build only: the same module code in both).
    if (configuration === 'modular') {
      spellings.push(['--image-opts', `driver=iscsi,transport=tcp,portal=${portal},target=${PLAIN},lun=1`]);
      spellings.push(['--image-opts', `driver=raw,file.driver=iscsi,file.transport=tcp,file.portal=${portal},file.target=${PLAIN},file.lun=1,file.initiator-name=iqn.2026-12.org.tessera:initiator`]);
    }
    for (const spelling of spellings) {
      const commands = spelling.length === 1 ? [['info'], ['info', '--output=json'], ['map'], ['map', '--output=json']] : [['info', '--output=json'], ['map']];
      for (const args of commands) {
        const theirs = qemuImg([...args, ...spelling]);
        expect(theirs.code).toBe(0);
        const ours = await tool([...args, ...spelling]);
        expect([ours.code, ours.stderr, ours.stdout]).toEqual([0, '', theirs.stdout]);
      }
    }
    const same = await tool(['compare', url, 'fragmented.raw']);
    expect([same.code, same.stdout]).toEqual([0, 'Images are identical.\n']);
    const out = join(dir, `out-${configuration}.raw`);
    expect((await tool(['convert', '-O', 'raw', url, out])).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(dir, 'fragmented.raw')))).toBe(true);
    const theirs = join(dir, `theirs-${configuration}.raw`);
    qemuImg(['convert', '-O', 'raw', url, theirs]);
    expect(readFileSync(out).equals(readFileSync(theirs))).toBe(true);
    rmSync(out);
    rmSync(theirs);
  });

  it('convert -n into a CHAP-protected LUN (user%password in the URL): qemu-img compare finds it identical; compare tells a differing byte as qemu-img', async () => {
    const url = tgtd.url(CHAP, 1, `${chap.user}%${chap.password}`);
    const source = join(dir, `source-${configuration}.raw`);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', source, '8M']);
    // Odd sizes and offsets: writes split by the target's R2Ts and our immediate data.
    execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P 0x5${configuration.length} 4096 ${3 * MiB + 512}`, '-c', 'write -P 0x66 6M 100k', source], { stdio: 'ignore' });
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x99 0 8M', join(dir, 'writable.raw')], { stdio: 'ignore' }); // old bytes to overwrite
    const converted = await tool(['convert', '-n', '-O', 'raw', source, url]);
    expect([converted.code, converted.stderr]).toEqual([0, '']);
    expect(qemuImg(['compare', source, url])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x77 4194304 512', source], { stdio: 'ignore' });
    const ours = await tool(['compare', url, source]);
    const theirs = qemuImg(['compare', url, source]);
    expect([ours.code, ours.stdout]).toEqual([theirs.code, theirs.stdout]);
    rmSync(source);
  });
});

describe('iscsi failures (modular): one line naming the URL, exit 1, bounded time', () => {
  const tool = (args: string[]) => run(executable('img-tool', 'modular'), args, { cwd: dir });

  const expectOneLine = async (url: string, cause: RegExp, withinMs = 5000) => {
    const started = Date.now();
    const result = await tool(['info', url]);
    expect(Date.now() - started).toBeLessThan(withinMs);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`Could not open '${url}'`);
    expect(result.stderr).toMatch(cause);
  };

  it('CHAP password from --object secret (password-secret) as qemu-img takes it; its refusals in qemu-img\'s words', async () => {
    const lun = (extra: string) => ['--image-opts', `driver=iscsi,transport=tcp,portal=127.0.0.1:${tgtd.port},target=${CHAP},lun=1,user=${chap.user},${extra}`];
    const cases = [
      ['map', '--output=json', '--object', `secret,id=sec0,data=${chap.password}`, ...lun('password-secret=sec0')],
      ['map', '--output=json', '--object', `secret,id=sec0,data=${chap.password}`, ...lun('password-secret=sec0,password=x')],
      ['map', '--output=json', ...lun('password-secret=nosuch')],
    ];
    for (const args of cases) {
      const theirs = qemuImg(args);
      const ours = await tool(args);
      expect([ours.code, ours.stdout]).toEqual([theirs.code, theirs.stdout]);
      if (theirs.code !== 0) expect(ours.stderr.replace(/^tessera-img/, 'qemu-img')).toContain(theirs.stderr.split(': ').at(-1)!.trim());
    }
    expect(JSON.parse(qemuImg(cases[0]!).stdout).length).toBeGreaterThan(0);
  });

  it('wrong CHAP password, no credentials for a CHAP target, unknown target, unknown LUN, refused connection', async () => {
    await expectOneLine(tgtd.url(CHAP, 1, `${chap.user}%wrong-password-x`), /authentication failed .*check user and password/);
    await expectOneLine(tgtd.url(CHAP), /authentication failed/);
    await expectOneLine(tgtd.url('iqn.2026-12.org.tessera.test:nope'), /no target named iqn\.2026-12\.org\.tessera\.test:nope/);
    await expectOneLine(tgtd.url(PLAIN, 7), /the target has no LUN 7/);
    await expectOneLine(`iscsi://127.0.0.1:${await freePort()}/${PLAIN}/1`, /Failed to connect to 127\.0\.0\.1:\d+: Connection refused/);
  });

  it('tgtd killed mid-transfer: a one-line error naming the URL within the connect deadline, after one refused reconnect', async () => {
    const own = await startTgtd([{ tid: 1, iqn: BIG, file: join(dir, 'big.raw') }]);
    const url = own.url(BIG);
    // Rate-limited (-r, 32 MiB/s: 8 s for the 256 MiB LUN) so that the copy is still under way
    // when tgtd is killed: unlimited, it can finish first.
    const converting = tool(['convert', '-r', '32M', '-O', 'raw', url, join(dir, 'big-out.raw')]);
    // Killed once the copy has begun: convert creates its target only after the LUN is open.
    for (const deadline = Date.now() + 30_000; !existsSync(join(dir, 'big-out.raw')); ) {
      if (Date.now() > deadline) throw new Error('convert did not create its target within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const killed = Date.now();
    await own.stop(true);
    const result = await converting;
    expect(Date.now() - killed).toBeLessThan(10_000);
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n'), result.stderr).toHaveLength(1);
    // The connection ends as a read meets it closed or reset, or as a write meets it gone
    // (Broken pipe: with the copy rate-limited, it is often sending a command then). The
    // reconnect may reach the port while the dying tgtd still holds it: the kernel takes the
    // connection and then resets it, instead of refusing it. Either way the cause is named.
    expect(result.stderr, result.stderr).toMatch(
      new RegExp(`${url.replace(/[.:/]/g, '\\$&')}: .*(closed the connection|Connection reset|Broken pipe).*; reconnecting failed: .*(Connection refused|Connection reset by peer|closed the connection)`),
    );
    rmSync(join(dir, 'big-out.raw'), { force: true });
  });
});


describe('iscsi commands on the wire (modular)', () => {
  it('a convert reads the LUN in READ(16) commands of at most 120 KiB, at most 8 in flight (decoded from the PDUs it sends, under strace)', async () => {
    // tgtd gives each command a buffer of its own: larger commands, or more at once, made it
    // fault its pages in afresh (lun-info.ts, session.ts). Random bytes, so a Data-In landing in
    // the wrong command's buffer shows in the comparison.
    const size = 32 * MiB;
    const file = join(dir, 'wire.raw');
    writeFileSync(file, randomBytes(size));
    const own = await startTgtd([{ tid: 1, iqn: PLAIN, file }]);
    const trace = join(dir, 'wire.strace');
    const out = join(dir, 'wire-out.raw');
    try {
      const result = await run(executable('img-tool', 'modular'), ['convert', '-O', 'raw', own.url(PLAIN), out], {
        cwd: dir,
        wrapper: ['strace', '-f', '-qq', '-e', 'trace=write,writev', '-e', 'write=all', '-o', trace],
      });
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(readFileSync(out).equals(readFileSync(file))).toBe(true);
      const commands = scsiCommands(readFileSync(trace, 'latin1'));
      const reads = commands.filter((command) => command.opcode === 0x88);
      // Each 2 MiB chunk as 17 commands of 120 KiB and one of the 8 KiB left (the zero-tail scout
      // reads the last chunks once more); besides them only the probe's reads of 4 KiB or less.
      const sizes = new Map<number, number>();
      for (const read of reads) sizes.set(read.length, (sizes.get(read.length) ?? 0) + 1);
      const chunks = size / (2 * MiB);
      expect(sizes.get(120 * KiB)).toBeGreaterThanOrEqual(17 * chunks);
      expect(sizes.get(8 * KiB)).toBeGreaterThanOrEqual(chunks);
      expect([...sizes.keys()].filter((length) => length !== 120 * KiB && length !== 8 * KiB).every((length) => length <= 4096)).toBe(true);
      // In flight when a command leaves: the commands sent so far, this one too (CmdSN), less the
      // statuses received (the ExpStatSN it carries), both counted from the first command.
      const [first] = commands;
      const inFlight = commands.map((command) => command.cmdSN - first!.cmdSN + 1 - (command.expStatSN - first!.expStatSN));
      expect(Math.max(...inFlight)).toBe(8);
    } finally {
      await own.stop();
      rmSync(out, { force: true });
    }
  });
});

/** SCSI Command PDUs (opcode 0x01) among the buffers strace dumped: CDB opcode, expected transfer length, CmdSN, ExpStatSN. */
function scsiCommands(trace: string): Array<{ opcode: number; length: number; cmdSN: number; expStatSN: number }> {
  const commands: Array<{ opcode: number; length: number; cmdSN: number; expStatSN: number }> = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 48 && (bytes[0]! & 0x3f) === 0x01) {
      const header = Buffer.from(bytes);
      commands.push({ opcode: header[32]!, length: header.readUInt32BE(20), cmdSN: header.readUInt32BE(24), expStatSN: header.readUInt32BE(28) });
    }
    bytes = [];
  };
  for (const line of trace.split('\n')) {
    // A dump line: ` | 00000  01 c1 00 00 ...  text |`, 16 bytes in a 49-column hex field;
    // anything else ends the buffer being read.
    if (/^ \| [0-9a-f]{5}  /.test(line)) bytes.push(...line.slice(10, 59).trim().split(/ +/).map((hex) => parseInt(hex, 16)));
    else flush();
  }
  flush();
  return commands;
}
