/** QEMU's serial-console escape: Ctrl-a followed by a command key. */
export const CTRL_A = 0x01;

// Plain \n: Node's raw mode keeps the terminal's output processing, which adds the \r.
export const ESCAPE_HELP =
  'C-a h    print this help\n' +
  'C-a x    exit emulator\n' +
  'C-a C-a  sends C-a\n';

/** The help line for Ctrl-a c, shown when a monitor shares the terminal (`-serial mon:stdio`). */
export const ESCAPE_HELP_MONITOR = 'C-a c    switch between console and monitor\n';

export type EscapeAction = { kind: 'guest'; data: Uint8Array } | { kind: 'quit' } | { kind: 'help' } | { kind: 'switch' };

/**
 * Splits what the user types into bytes for the guest and escape commands. Keeps the state of a
 * pending Ctrl-a between chunks (a key press may arrive alone).
 */
export class EscapeDecoder {
  private pendingEscape = false;

  decode(input: Uint8Array): EscapeAction[] {
    const actions: EscapeAction[] = [];
    let guest: number[] = [];
    const flush = () => {
      if (guest.length > 0) actions.push({ kind: 'guest', data: Uint8Array.from(guest) });
      guest = [];
    };
    for (const byte of input) {
      if (!this.pendingEscape) {
        if (byte === CTRL_A) this.pendingEscape = true;
        else guest.push(byte);
        continue;
      }
      this.pendingEscape = false;
      if (byte === CTRL_A) guest.push(CTRL_A);
      else if (byte === 0x78 /* x */) {
        flush();
        actions.push({ kind: 'quit' });
        return actions; // nothing after quitting matters
      } else if (byte === 0x68 /* h */) {
        flush();
        actions.push({ kind: 'help' });
      } else if (byte === 0x63 /* c */) {
        flush();
        actions.push({ kind: 'switch' });
      }
      // other escape keys (break, timestamps) are not offered: ignored like unknown ones
    }
    flush();
    return actions;
  }
}
