import type { RgbImage } from './image-encode.ts';

/** The VGA registers and memory of v86's VGA device that a text-mode picture is drawn from. */
export interface VgaTextState {
  vga_memory: Uint8Array;
  plane2: Uint8Array;
  max_cols: number;
  max_rows: number;
  start_address: number;
  offset_register: number;
  max_scan_line: number;
  clocking_mode: number;
  attribute_mode: number;
  character_map_select: number;
  vga256_palette: Int32Array;
  dac_map: Uint8Array;
  dac_mask: number;
}

/** The VGA's 8 font slots in plane 2, in the order the character map select register numbers them. */
const FONT_SLOT = [0, 2, 4, 6, 1, 3, 5, 7];
const FONT_SLOT_BYTES = 8192;

/**
 * Draw the text screen as the VGA would put it out: each cell's glyph from the font the guest
 * loaded into plane 2, in the cell's attribute colours (80x25 with a 9x16 font is 720x400, like
 * QEMU's screendump). Blinking shows as visible; the cursor is not drawn (nor is it by QEMU).
 */
export function renderTextMode(vga: VgaTextState): RgbImage {
  const cellHeight = (vga.max_scan_line & 31) + 1;
  const cellWidth = vga.clocking_mode & 1 ? 8 : 9;
  const columns = vga.max_cols;
  const rows = vga.max_rows;
  const width = columns * cellWidth;
  const height = rows * cellHeight;
  const rgb = new Uint8Array(width * height * 3);
  const select = vga.character_map_select;
  const pageA = FONT_SLOT[((select & 12) >> 2) | ((select & 32) >> 3)]! * FONT_SLOT_BYTES;
  const pageB = FONT_SLOT[(select & 3) | ((select & 16) >> 2)]! * FONT_SLOT_BYTES;
  const twoFonts = pageA !== pageB;
  const blinkMode = (vga.attribute_mode & 8) !== 0;
  const lineGraphics = (vga.attribute_mode & 4) !== 0;
  const stride = Math.max(2 * columns, 4 * vga.offset_register);
  const colour = (index: number) => vga.vga256_palette[vga.dac_mask & vga.dac_map[index]!]!;

  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const address = ((vga.start_address << 1) + row * stride + column * 2) & 0xffff;
      const code = vga.vga_memory[address]!;
      const attribute = vga.vga_memory[address | 1]!;
      const fg = colour(attribute & (twoFonts ? 7 : 15));
      const bg = colour((attribute >> 4) & (blinkMode ? 7 : 15));
      const glyph = (twoFonts && !(attribute & 8) ? pageB : pageA) + code * 32;
      for (let line = 0; line < cellHeight; line++) {
        const bits = vga.plane2[glyph + line]!;
        // The 9th column repeats the 8th only for the line-drawing characters, when enabled.
        const ninth = cellWidth === 9 && lineGraphics && code >= 0xc0 && code <= 0xdf ? bits & 1 : 0;
        let offset = ((row * cellHeight + line) * width + column * cellWidth) * 3;
        for (let x = 0; x < cellWidth; x++, offset += 3) {
          const on = x < 8 ? (bits >> (7 - x)) & 1 : ninth;
          const c = on ? fg : bg;
          rgb[offset] = (c >> 16) & 0xff;
          rgb[offset + 1] = (c >> 8) & 0xff;
          rgb[offset + 2] = c & 0xff;
        }
      }
    }
  }
  return { width, height, rgb };
}
