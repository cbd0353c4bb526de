/**
 * The last span fetched with readahead. Format probing and small sequential reads (a qcow2
 * header, then its tables) then cost one request instead of one each.
 */
export class ReadaheadWindow {
  private offset = 0;
  private data: Uint8Array = new Uint8Array(0);

  /** Copy `into.length` bytes at `offset` from the window; false when it does not hold them all. */
  copyTo(offset: number, into: Uint8Array): boolean {
    const start = offset - this.offset;
    if (start < 0 || start + into.length > this.data.length) return false;
    into.set(this.data.subarray(start, start + into.length));
    return true;
  }

  keep(offset: number, data: Uint8Array): void {
    this.offset = offset;
    this.data = data;
  }

  clear(): void {
    this.data = new Uint8Array(0);
  }
}
