// A one-sector guest on a 1.44 MB floppy, for options that need a running machine but not Linux:
// SeaBIOS boots it in about a second. It prints a line on COM1, then by its mode byte powers off
// (`p`: cli; hlt, which tessera treats as power-off), resets the machine (`r`: 0xFE to the
// keyboard controller), writes its own sector to sector 2 of the floppy through the BIOS and
// prints `W` (or `E` if the BIOS reports an error) before powering off (`w`), or echoes COM1
// input (`e`), where an input `p` or `r` does as above.
// Assembled from this (GNU as, .code16, loaded at 0x7c00):
//     xor ax,ax; mov ds,ax; mov es,ax; mov si,msg
//   print: lodsb; test al,al; jz printed; mov dx,0x3f8; out dx,al; jmp print
//   printed: mov al,[mode]; cmp al,'p'; je poweroff; cmp al,'r'; je reset; cmp al,'w'; je write
//   echo: mov dx,0x3fd; wait: in al,dx; test al,1; jz wait; mov dx,0x3f8; in al,dx
//         cmp al,'p'; je poweroff; cmp al,'r'; je reset; out dx,al; jmp echo
//   write: mov ax,0x0301; mov cx,2; xor dx,dx; mov bx,0x7c00; int 0x13
//          mov al,'W'; jnc 1f; mov al,'E'; 1: mov dx,0x3f8; out dx,al; jmp poweroff
//   reset: mov al,0xfe; out 0x64,al
//   poweroff: cli; hlt; jmp poweroff
//   mode at 0x60, msg (NUL-terminated) at 0x68, 0x55 0xaa at 510.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CODE =
  '31c08ed88ec0be687cac84c07406baf803eeebf5a0607c3c70743c3c7274343c777417bafd03eca80174fbbaf803ec3c7074243c72741ceeebe9' +
  'b80103b9020031d2bb007ccd13b0577302b045baf803eeeb04b0fee664faf4ebfc';
const FLOPPY_BYTES = 1_474_560;
export const HELLO = 'TESSERA-FLOPPY: hello\r\n';

export type FloppyMode = 'poweroff' | 'reset' | 'echo' | 'write';
let made = 0;

/** A new floppy image of the guest in `dir` (default: a new temporary directory); each call makes another file (a running machine locks its own). */
export function floppyGuest(mode: FloppyMode, dir = mkdtempSync(join(tmpdir(), 'tessera-floppy-'))): string {
  const image = Buffer.alloc(FLOPPY_BYTES);
  Buffer.from(CODE, 'hex').copy(image, 0);
  image[0x60] = mode.charCodeAt(0);
  image.write(`${HELLO}\0`, 0x68, 'latin1');
  image[510] = 0x55;
  image[511] = 0xaa;
  const path = join(dir, `${mode}-${++made}.img`);
  writeFileSync(path, image);
  return path;
}
