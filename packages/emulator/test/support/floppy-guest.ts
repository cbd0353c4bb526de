// A one-sector guest on a 1.44 MB floppy, for options that need a running machine but not Linux:
// SeaBIOS boots it in about a second. It prints a line on COM1, then by its mode byte powers off
// (`p`: cli; hlt, which tessera treats as power-off), resets the machine (`r`: 0xFE to the
// keyboard controller) or echoes COM1 input (`e`), where an input `p` or `r` does the same.
// Assembled from this (GNU as, .code16, loaded at 0x7c00):
//     xor ax,ax; mov ds,ax; mov si,msg
//   print: lodsb; test al,al; jz printed; mov dx,0x3f8; out dx,al; jmp print
//   printed: mov al,[mode]; cmp al,'p'; je poweroff; cmp al,'r'; je reset
//   echo: mov dx,0x3fd; wait: in al,dx; test al,1; jz wait; mov dx,0x3f8; in al,dx
//         cmp al,'p'; je poweroff; cmp al,'r'; je reset; out dx,al; jmp echo
//   reset: mov al,0xfe; out 0x64,al
//   poweroff: cli; hlt; jmp poweroff
//   mode at 0x40, msg (NUL-terminated) at 0x48, 0x55 0xaa at 510.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CODE = '31c08ed8be487cac84c07406baf803eeebf5a0407c3c70741f3c727417bafd03eca80174fbbaf803ec3c70740b3c727403eeebe9b0fee664faf4ebfc';
const FLOPPY_BYTES = 1_474_560;
export const HELLO = 'TESSERA-FLOPPY: hello\r\n';

export type FloppyMode = 'poweroff' | 'reset' | 'echo';
let made = 0;

/** A new floppy image of the guest in `dir` (default: a new temporary directory); each call makes another file (a running machine locks its own). */
export function floppyGuest(mode: FloppyMode, dir = mkdtempSync(join(tmpdir(), 'tessera-floppy-'))): string {
  const image = Buffer.alloc(FLOPPY_BYTES);
  Buffer.from(CODE, 'hex').copy(image, 0);
  image[0x40] = mode.charCodeAt(0);
  image.write(`${HELLO}\0`, 0x48, 'latin1');
  image[510] = 0x55;
  image[511] = 0xaa;
  const path = join(dir, `${mode}-${++made}.img`);
  writeFileSync(path, image);
  return path;
}
