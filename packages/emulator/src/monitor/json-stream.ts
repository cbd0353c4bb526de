/**
 * Splits a byte stream into top-level JSON texts the way QEMU's JSON streamer does: by balanced
 * braces and brackets outside strings, so messages need no newline between them. A stray
 * character outside any object is reported as an error and skipped to the next line.
 */
/** A client cannot make the emulator hold more than this of one unfinished message (QEMU caps its tokens too). */
const MAX_MESSAGE_BYTES = 1 << 20;

export class JsonStream {
  private buffer = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private stray = false;

  constructor(
    private readonly onMessage: (text: string) => void,
    private readonly onStray: (text: string) => void,
  ) {}

  /** Feed text; complete messages are handed out as they finish. */
  push(text: string): void {
    for (const char of text) {
      if (this.stray) {
        // Skip to the end of the line: QEMU resynchronises after a lexical error.
        if (char === '\n') {
          this.onStray(this.buffer + char);
          this.buffer = '';
          this.stray = false;
        } else if (this.buffer.length < 64) this.buffer += char; // enough to name it in the error
        continue;
      }
      if (this.depth === 0) {
        if (char === '{' || char === '[') {
          this.buffer = char;
          this.depth = 1;
        } else if (!/\s/.test(char)) {
          this.buffer = char;
          this.stray = true;
        }
        continue;
      }
      this.buffer += char;
      if (this.buffer.length > MAX_MESSAGE_BYTES || this.depth > 1024) {
        // Too large or too deeply nested: drop it and resynchronise at the next line, as after a stray character.
        this.depth = 0;
        this.inString = false;
        this.escaped = false;
        this.buffer = '';
        this.stray = true;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (char === '\\') this.escaped = true;
        else if (char === '"') this.inString = false;
        else if (char === '\n') {
          // A newline inside a string is not JSON: give up on this text.
          this.depth = 0;
          this.inString = false;
          const bad = this.buffer;
          this.buffer = '';
          this.onStray(bad);
        }
        continue;
      }
      if (char === '"') this.inString = true;
      else if (char === '{' || char === '[') this.depth++;
      else if (char === '}' || char === ']') {
        this.depth--;
        if (this.depth === 0) {
          const message = this.buffer;
          this.buffer = '';
          this.onMessage(message);
        }
      }
    }
  }
}
