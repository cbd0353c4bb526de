import { describe, expect, it } from 'vitest';
import { scancodesFor } from '../src/scancodes.ts';

describe('PS/2 scancode set 1', () => {
  it.each([
    ['KeyA', [0x1e], [0x9e]],
    ['KeyZ', [0x2c], [0xac]],
    ['Digit1', [0x02], [0x82]],
    ['Digit0', [0x0b], [0x8b]],
    ['Enter', [0x1c], [0x9c]],
    ['Backspace', [0x0e], [0x8e]],
    ['Space', [0x39], [0xb9]],
    ['ShiftLeft', [0x2a], [0xaa]],
    ['ShiftRight', [0x36], [0xb6]],
    ['ControlLeft', [0x1d], [0x9d]],
    ['AltLeft', [0x38], [0xb8]],
    ['Slash', [0x35], [0xb5]],
    ['Backquote', [0x29], [0xa9]],
    ['F12', [0x58], [0xd8]],
    ['ArrowUp', [0xe0, 0x48], [0xe0, 0xc8]],
    ['ArrowLeft', [0xe0, 0x4b], [0xe0, 0xcb]],
    ['ControlRight', [0xe0, 0x1d], [0xe0, 0x9d]],
    ['AltRight', [0xe0, 0x38], [0xe0, 0xb8]],
    ['NumpadEnter', [0xe0, 0x1c], [0xe0, 0x9c]],
    ['NumpadDivide', [0xe0, 0x35], [0xe0, 0xb5]],
    ['Delete', [0xe0, 0x53], [0xe0, 0xd3]],
    ['PrintScreen', [0xe0, 0x2a, 0xe0, 0x37], [0xe0, 0xb7, 0xe0, 0xaa]],
    ['Pause', [0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5], []],
  ])('%s', (code, make, release) => {
    expect(scancodesFor(code, true)).toEqual(make);
    expect(scancodesFor(code, false)).toEqual(release);
  });

  it('ignores keys a PC keyboard does not have', () => {
    expect(scancodesFor('MediaPlayPause', true)).toEqual([]);
    expect(scancodesFor('', true)).toEqual([]);
    expect(scancodesFor('toString', true)).toEqual([]);
  });
});
