// The read-only formats qemu-img reads but cannot create (bochs, cloop, dmg), through the built
// tessera-img in both configurations, with qemu-img 7.2 as the oracle on the same images: info
// (human and JSON), map (human and JSON) and convert -O raw byte for byte. Images made by the
// tools Debian packages where there is one (Bochs' bximage, cloop-utils' create_compressed_fs),
// by the tests' own UDIF writer for DMG (no Debian package creates one), all from one fragmented
// raw disk.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fragmentedRaw } from '../../../tools/test-support/fragmented-raw.ts';
import { makeDmg, sampleData } from '../../modules/block-dmg/test/dmg-fixture.ts';
import { asTessera, configurations, qemuImg, tempDir, tool, type Configuration, type RunResult } from './helpers.ts';

interface Fixture {
  readonly file: string;
  readonly format: string;
}

const FIXTURES: readonly Fixture[] = [
  { file: 'a.bochs', format: 'bochs' },
  { file: 'a.cloop', format: 'cloop' },
  { file: 'a.dmg', format: 'dmg' }, // tables in the XML property list; probed by its trailer (and name)
  { file: 'rsrc.img', format: 'dmg' }, // tables in a binary resource fork; qemu probes only the name, so -f dmg for it
];

let dir: string;
let bzipGuest: Uint8Array;

beforeAll(async () => {
  dir = await tempDir();
  fragmentedRaw(join(dir, 'src.raw'), 3 << 20, 11);
  execFileSync('bximage', ['-func=convert', '-imgmode=growing', '-q', 'src.raw', 'a.bochs'], { cwd: dir, stdio: 'ignore' });
  execFileSync('create_compressed_fs', ['-q', '-B', '65536', 'src.raw', 'a.cloop'], { cwd: dir, stdio: 'ignore' });
  const parts = (seed: number) =>
    [
      { kind: 'zlib', data: sampleData(seed, 128) },
      { kind: 'zero', data: new Uint8Array(512 * 300) },
      { kind: 'raw', data: sampleData(seed + 1, 17) },
      { kind: 'ignore', data: new Uint8Array(512 * 5) },
      { kind: 'zlib', data: sampleData(seed + 2, 3) },
    ] as const;
  writeFileSync(join(dir, 'a.dmg'), makeDmg({ blocks: [parts(1), parts(20)] }).image);
  writeFileSync(join(dir, 'rsrc.img'), makeDmg({ blocks: [parts(3), parts(30)], metadata: 'resource-fork' }).image);
  // bzip2 chunks: Debian's qemu-img has no dmg-bz2 module (it fails to read them), so the source data is the oracle.
  const bzip = makeDmg({ blocks: [[{ kind: 'bzip2', data: sampleData(5, 300) }, { kind: 'zero', data: new Uint8Array(512 * 64) }, { kind: 'bzip2', data: sampleData(6, 9) }]] });
  writeFileSync(join(dir, 'b.dmg'), bzip.image);
  bzipGuest = bzip.guest;
}, 60_000);

/** Debian's qemu-img says on stderr that its optional dmg decompressor modules are not installed: packaging, not qemu-img's answer. */
const withoutModuleNotes = (text: string): string => text.replace(/^qemu: module block-block-dmg-\w+ not found, .*\n/gm, '');

/** qemu-img's arguments for a fixture: the format named where qemu's probe would not find it. */
const qemuArgs = ({ file }: Fixture): string[] => (file === 'rsrc.img' ? ['-f', 'dmg', file] : [file]);

it('the fixtures are what qemu-img reads them as, with the same content as the disk they were made from', async () => {
  for (const fixture of FIXTURES) {
    const info = await qemuImg(['info', '--output=json', ...qemuArgs(fixture)], dir);
    expect((JSON.parse(info.stdout) as { format: string }).format, fixture.file).toBe(fixture.format);
  }
  expect((await qemuImg(['compare', '-f', 'raw', '-F', 'bochs', 'src.raw', 'a.bochs'], dir)).code).toBe(0);
  expect((await qemuImg(['compare', '-f', 'raw', '-F', 'cloop', 'src.raw', 'a.cloop'], dir)).code).toBe(0);
});

/** What qemu-img answers, once for both configurations: info, map (JSON), info (JSON), and its converted raw image. */
const COMMANDS = [['info'], ['map', '--output=json'], ['info', '--output=json']] as const;
const oracle = new Map<string, { outputs: RunResult[]; raw: Buffer }>();

beforeAll(async () => {
  await Promise.all(
    FIXTURES.map(async (fixture) => {
      const outputs = await Promise.all(
        COMMANDS.map(async (args) => {
          const result = asTessera(await qemuImg([...args, ...qemuArgs(fixture)], dir));
          return { ...result, stderr: withoutModuleNotes(result.stderr) };
        }),
      );
      const target = `${fixture.file}.qemu.raw`;
      const converted = await qemuImg(['convert', '-O', 'raw', ...qemuArgs(fixture).slice(0, -1), fixture.file, target], dir);
      if (converted.code !== 0) throw new Error(`qemu-img convert ${fixture.file}: ${converted.stderr}`);
      oracle.set(fixture.file, { outputs, raw: readFileSync(join(dir, target)) });
    }),
  );
}, 60_000);

describe.each(configurations)('tessera-img (%s) reads them as qemu-img does', (configuration: Configuration) => {
  it('info (human and JSON), map and convert -O raw, byte for byte', async () => {
    await Promise.all(
      FIXTURES.map(async (fixture) => {
        const expected = oracle.get(fixture.file)!;
        const [info, map, json] = await Promise.all(COMMANDS.map((args) => tool(configuration, [...args, fixture.file], dir)));
        expect(info, `info ${fixture.file}`).toEqual(expected.outputs[0]);
        expect(map, `map ${fixture.file}`).toEqual(expected.outputs[1]);
        const ours = JSON.parse(json!.stdout) as Record<string, unknown>;
        expect(ours, `info --output=json ${fixture.file}`).toEqual(JSON.parse(expected.outputs[2]!.stdout));
        const target = `${fixture.file}.${configuration}.raw`;
        const converted = await tool(configuration, ['convert', '-O', 'raw', fixture.file, target], dir);
        expect(converted, `convert ${fixture.file}`).toEqual({ code: 0, stdout: '', stderr: '' });
        expect(readFileSync(join(dir, target)).equals(expected.raw), `convert ${fixture.file}`).toBe(true);
      }),
    );
  });

  it('a DMG with bzip2 chunks reads as the data compressed into it', async () => {
    const result = await tool(configuration, ['convert', '-O', 'raw', 'b.dmg', `b.${configuration}.raw`], dir);
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, `b.${configuration}.raw`)).equals(Buffer.from(bzipGuest))).toBe(true);
  });

  it('opening one for writing is refused in qemu-img words, the image unchanged', async () => {
    const before = readFileSync(join(dir, 'a.cloop'));
    const ours = await tool(configuration, ['resize', 'a.cloop', '8M'], dir);
    expect(ours).toEqual(asTessera(await qemuImg(['resize', 'a.cloop', '8M'], dir)));
    expect(readFileSync(join(dir, 'a.cloop')).equals(before)).toBe(true);
  });
});
