/**
 * Fixes to v86's CPU (its wasm), applied to the bytes in memory when the engine loads; the installed
 * package stays as published. Each patch names the v86 build it was made for, checked by the wasm's
 * size and the exact bytes around the patch site: any other build makes the machine refuse to start
 * (with the reason), so a v86 upgrade cannot run half-patched. Tests boot the media each patch fixes.
 */

export interface WasmPatch {
  /** What is wrong in v86 and what the patch changes. */
  readonly why: string;
  /** Offset in v86.wasm of the first byte of `before`. */
  readonly offset: number;
  readonly before: readonly number[];
  readonly after: readonly number[];
}

/** v86 0.5.462's build/v86.wasm. */
const V86_WASM_SIZE = 2_101_621;

export const WASM_PATCHES: readonly WasmPatch[] = [
  {
    why:
      'PAE paging ignores 2 MiB pages unless CR4.PSE is set (do_page_walk tests `cr4 & CR4_PSE`); on a real CPU ' +
      'a PAE page-directory entry with PS set is a large page whatever CR4.PSE says. memtest86+ maps itself ' +
      'with PAE large pages and CR4.PSE clear: v86 read the entry as a page-table pointer, faulted while ' +
      'delivering the fault, and overflowed the host stack. The test becomes `cr4 & (CR4_PSE | CR4_PAE)`.',
    // In func 1624 (do_page_walk): local.get 8 (cr4); i32.const 16; i32.and; i32.eqz; br_if 0; local.get 7 (PDE); i32.const 128 (PS)
    offset: 0xbc0e1,
    before: [0x20, 0x08, 0x41, 0x10, 0x71, 0x45, 0x0d, 0x00, 0x20, 0x07, 0x41, 0x80, 0x01, 0x71],
    after: [0x20, 0x08, 0x41, 0x30, 0x71, 0x45, 0x0d, 0x00, 0x20, 0x07, 0x41, 0x80, 0x01, 0x71],
  },
];

/** v86.wasm with WASM_PATCHES applied (a copy); throws, naming the reason, for any other build. */
export function patchV86Wasm(original: Uint8Array, patches: readonly WasmPatch[] = WASM_PATCHES): Uint8Array {
  if (original.byteLength !== V86_WASM_SIZE) {
    throw new Error(`v86.wasm is ${original.byteLength} bytes, not the ${V86_WASM_SIZE} of v86 0.5.462 that tessera's CPU fixes are made for; reinstall tessera (in a build tree: npm ci, then npx nx build emulator)`);
  }
  const patched = Uint8Array.from(original);
  for (const patch of patches) {
    const found = patched.subarray(patch.offset, patch.offset + patch.before.length);
    if (!patch.before.every((byte, i) => found[i] === byte)) {
      throw new Error(`v86.wasm differs from v86 0.5.462 at offset 0x${patch.offset.toString(16)}; reinstall tessera (in a build tree: npm ci, then npx nx build emulator)`);
    }
    patched.set(patch.after, patch.offset);
  }
  return patched;
}
