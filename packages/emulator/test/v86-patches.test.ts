// The v86 CPU patch (src/machine/v86-wasm-patch.ts) against the installed v86.wasm: it applies to
// exactly the pinned build, changes only the bytes it names, and refuses any other build; the copy
// each build puts in dist/.../tessera.deps (the one the executable loads and patches) is that build.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { patchV86Wasm, WASM_PATCHES } from '../src/machine/v86-wasm-patch.ts';
import { checkLinuxKernel, padKernel } from '../src/machine/linux-kernel.ts';

const wasm = () => new Uint8Array(readFileSync(createRequire(import.meta.url).resolve('v86/build/v86.wasm')));

describe('v86 wasm patch', () => {
  it('changes only the patched bytes of the pinned v86.wasm', () => {
    const original = wasm();
    const patched = patchV86Wasm(original);
    const changed = [...patched.keys()].filter((i) => patched[i] !== original[i]);
    expect(changed).toEqual([WASM_PATCHES[0]!.offset + 3]); // i32.const 16 (CR4.PSE) -> 48 (CR4.PSE | CR4.PAE)
    expect(patched[changed[0]!]).toBe(0x30);
  });

  it('refuses a v86.wasm of another size or with other bytes at a patch site', () => {
    const original = wasm();
    expect(() => patchV86Wasm(original.subarray(1))).toThrow(/v86.wasm is 2101620 bytes, not the 2101621 of v86 0.5.462 .*; reinstall tessera \(in a build tree: npm ci, then npx nx build emulator\)$/);
    const other = Uint8Array.from(original);
    other[WASM_PATCHES[0]!.offset + 3] = 0x11;
    expect(() => patchV86Wasm(other)).toThrow(/v86.wasm differs from v86 0.5.462 at offset 0xbc0e1/);
  });

  it("applies to the copy each build puts next to the executable (what tessera runs)", () => {
    for (const configuration of ['modular', 'static'] as const) {
      const copy = join(dirname(executable('emulator', configuration)), 'tessera.deps/v86/build/v86.wasm');
      expect(Buffer.from(readFileSync(copy)).equals(Buffer.from(wasm())), copy).toBe(true);
      expect(() => patchV86Wasm(new Uint8Array(readFileSync(copy)))).not.toThrow();
    }
  });
});

describe('-kernel checks', () => {
  it('accepts bzImages (odd-sized ones padded to 4 bytes), refuses what v86 would silently skip', () => {
    const ipxe = new Uint8Array(readFileSync('/usr/lib/ipxe/ipxe.lkrn'));
    expect(ipxe.byteLength % 2).toBe(1);
    expect(checkLinuxKernel(ipxe)).toBeUndefined();
    const padded = new Uint8Array(padKernel(ipxe.slice().buffer));
    expect(padded.byteLength % 4).toBe(0);
    expect(Buffer.from(padded.subarray(0, ipxe.byteLength)).equals(Buffer.from(ipxe))).toBe(true);
    expect(checkLinuxKernel(new Uint8Array(4096))).toMatch(/not a Linux kernel/);
    const zImage = ipxe.slice();
    zImage[0x211] = 0;
    expect(checkLinuxKernel(zImage)).toMatch(/zImage/);
    const old = ipxe.slice();
    old[0x206] = 0x01;
    old[0x207] = 0x02;
    expect(checkLinuxKernel(old)).toBe('its Linux boot protocol is 2.01; this machine needs 2.02 or later');
  });
});
