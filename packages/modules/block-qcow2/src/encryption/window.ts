// The LUKS header's clusters as storage of their own (offset 0 = the header's first byte): the
// key-slot offsets in a LUKS header inside qcow2 are relative to it.
import type { BlockNode } from '@tessera/core';
import type { EncryptionHeaderPlace } from './header-extension.ts';

export function headerWindow(file: BlockNode, place: EncryptionHeaderPlace): BlockNode {
  const inside = (offset: number, length: number) => {
    if (offset < 0 || offset + length > place.length) {
      // qemu's words (a LUKS header whose key slots lie beyond the length the extension gives).
      throw Object.assign(new Error('Request for data outside of extension header'), { code: 'corrupt-image' });
    }
  };
  return {
    driver: file.driver,
    filename: file.filename,
    size: place.length,
    readOnly: file.readOnly,
    async read(offset, into) {
      inside(offset, into.length);
      await file.read(place.offset + offset, into);
    },
    async write(offset, data) {
      inside(offset, data.length);
      await file.write(place.offset + offset, data);
    },
    flush: () => file.flush(),
    close: async () => {},
  };
}
