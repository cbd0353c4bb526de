// Decoders for the screendump files, written from the formats' specifications: a PPM (P6) or an
// 8-bit RGB PNG checked chunk by chunk (CRC included) and inflated to its pixels.
import { crc32, inflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

export interface Picture {
  readonly width: number;
  readonly height: number;
  /** 3 bytes a pixel. */
  readonly rgb: Uint8Array;
}

export function decodePpm(file: Buffer): Picture {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(file.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('not a binary PPM');
  const [width, height] = [Number(header[1]), Number(header[2])];
  const rgb = file.subarray(header[0].length);
  if (rgb.length !== width * height * 3) throw new Error(`PPM has ${rgb.length} pixel bytes, expected ${width * height * 3}`);
  return { width, height, rgb };
}

export function decodePng(file: Buffer): Picture {
  if (!file.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error('no PNG signature');
  let offset = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (;;) {
    const length = file.readUInt32BE(offset);
    const type = file.toString('latin1', offset + 4, offset + 8);
    const data = file.subarray(offset + 8, offset + 8 + length);
    if (file.readUInt32BE(offset + 8 + length) !== (crc32 as (d: Uint8Array) => number)(file.subarray(offset + 4, offset + 8 + length))) throw new Error(`bad CRC in ${type}`);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 2) throw new Error('not 8-bit RGB');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length !== (width * 3 + 1) * height) throw new Error('PNG pixel data has the wrong size');
  const rgb = new Uint8Array(width * height * 3);
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = rgb.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? rgb.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let x = 0; x < stride; x++) {
      const left = x >= 3 ? out[x - 3]! : 0;
      const above = up[x]!;
      const corner = x >= 3 ? up[x - 3]! : 0;
      const predictor = [0, left, above, (left + above) >> 1, paeth(left, above, corner)][filter];
      if (predictor === undefined) throw new Error(`bad PNG filter ${filter}`);
      out[x] = (line[x]! + predictor) & 0xff;
    }
  }
  return { width, height, rgb };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Pixels in rows [top, bottom) that differ from the picture's first pixel (the background). */
export function litPixels(picture: Picture, top = 0, bottom = picture.height): number {
  const [r, g, b] = picture.rgb;
  let count = 0;
  for (let i = top * picture.width * 3; i < bottom * picture.width * 3; i += 3) {
    if (picture.rgb[i] !== r || picture.rgb[i + 1] !== g || picture.rgb[i + 2] !== b) count++;
  }
  return count;
}

/**
 * Takes screendumps (`dump` writes a PPM to `file`) until SeaBIOS's banner is on the first text
 * row: a boot under load can take longer than any fixed wait to reach its text screen.
 */
export async function untilBiosText(dump: (file: string) => Promise<void>, file: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await dump(file);
    if (litPixels(decodePpm(readFileSync(file)), 0, 16) > 200) return;
    if (Date.now() > deadline) throw new Error(`no BIOS text on the screen after ${timeoutMs} ms (${file})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
