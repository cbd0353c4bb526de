// Beyond qemu: a remote (http) image must not make tessera open a local file as its backing file
// or data file unless the user allows it (TESSERA_ALLOW_LOCAL_BACKING_OF_REMOTE=1); relative names
// resolve against the image's URL and stay allowed. A real HTTP server on loopback serves the image.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { startImageServer, type ImageServer } from '../../modules/block-http/test/helpers/image-server.ts';
import { MiB, configurations, qemuImg, tempDir, tool, type Configuration } from './helpers.ts';

const ALLOW = 'TESSERA_ALLOW_LOCAL_BACKING_OF_REMOTE';

let dir: string;
const servers: ImageServer[] = [];
let localBacking: ImageServer;
let localDataFile: ImageServer;
let relativeBacking: ImageServer;

async function ok(args: string[]): Promise<void> {
  const result = await qemuImg(args, dir);
  if (result.code !== 0) throw new Error(`qemu-img ${args.join(' ')}: ${result.stderr}`);
}

async function serve(file: string): Promise<ImageServer> {
  const server = await startImageServer(readFileSync(join(dir, file)));
  servers.push(server);
  return server;
}

beforeAll(async () => {
  dir = await tempDir();
  const secret = Buffer.alloc(MiB);
  secret.write('local host secret', 4096);
  writeFileSync(join(dir, 'secret.raw'), secret);
  await ok(['create', '-q', '-f', 'qcow2', '-b', join(dir, 'secret.raw'), '-F', 'raw', 'local-backing.qcow2']);
  await ok(['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'secret.raw')},data_file_raw=on`, 'local-data.qcow2', '1M']);
  await ok(['create', '-q', '-f', 'qcow2', '-b', 'base.img', '-F', 'raw', '-u', 'relative.qcow2', '1M']);
  [localBacking, localDataFile, relativeBacking] = [await serve('local-backing.qcow2'), await serve('local-data.qcow2'), await serve('relative.qcow2')];
}, 60_000);

afterAll(() => Promise.all(servers.map((server) => server.close())));

describe.each(configurations)('a remote image naming local files (%s)', (configuration: Configuration) => {
  it('a local backing file is refused, naming the image, the file and the switch; nothing is converted', async () => {
    // info alone does not open backing files (as qemu-img): it names the local file and reads nothing.
    const plain = await tool(configuration, ['info', localBacking.url], dir);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(`backing file: ${join(dir, 'secret.raw')}`);
    const info = await tool(configuration, ['info', '--backing-chain', localBacking.url], dir);
    expect(info.stderr).toBe(
      `tessera-img: Could not open '${localBacking.url}': Could not open backing file: the remote image '${localBacking.url}' ` +
        `names the local file '${join(dir, 'secret.raw')}' as its backing file, which is refused (a server must not choose ` +
        `which local file is read); to allow it, set ${ALLOW}=1 in the environment\n`,
    );
    expect(info.code).toBe(1);
    const convert = await tool(configuration, ['convert', '-O', 'raw', localBacking.url, 'stolen.raw'], dir);
    expect(convert.code).toBe(1);
    expect(convert.stderr).toContain(`set ${ALLOW}=1`);
    expect(() => readFileSync(join(dir, 'stolen.raw'))).toThrow();
  });

  it('a local data file is refused the same way', async () => {
    const info = await tool(configuration, ['info', localDataFile.url], dir);
    expect(info.stderr).toContain(`the remote image '${localDataFile.url}' names the local file '${join(dir, 'secret.raw')}' as its data file`);
    expect(info.code).toBe(1);
  });

  it(`with ${ALLOW}=1 the local backing file is opened and read`, async () => {
    const output = `allowed-${configuration}.raw`;
    const result = await run(executable('img-tool', configuration), ['convert', '-O', 'raw', localBacking.url, output], { cwd: dir, env: { [ALLOW]: '1' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, output)).equals(readFileSync(join(dir, 'secret.raw')))).toBe(true);
  });

  it('a relative backing name resolves against the URL and is fetched from the server (allowed)', async () => {
    relativeBacking.requests.length = 0;
    const info = await tool(configuration, ['info', '--backing-chain', relativeBacking.url], dir);
    // The server has no base.img: the open fails at the server, not at the local-file rule.
    expect(info.stderr).not.toContain(ALLOW);
    expect(info.stderr).toContain(`${relativeBacking.origin}/base.img`);
    expect(relativeBacking.requests.some((request) => request.path === '/base.img')).toBe(true);
    expect(info.code).toBe(1);
  });
});

it('the emulator refuses the drive the same way, before the machine starts', async () => {
  const result = await run(executable('emulator', 'modular'), ['-display', 'none', '-drive', `file=${localBacking.url},if=ide,readonly=on`], { cwd: dir });
  expect(result.stderr).toContain(`names the local file '${join(dir, 'secret.raw')}' as its backing file`);
  expect(result.stderr).toContain(`set ${ALLOW}=1`);
  expect(result.code).toBe(1);
});
