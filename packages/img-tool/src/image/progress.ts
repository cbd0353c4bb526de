/**
 * qemu-img's `-p` display: `    (xx.xx/100%)` followed by a carriage return, redrawn when the
 * percentage moved by more than one point (and always at 0 and 100), on stdout.
 */
export class Progress {
  private current = 0;
  private lastShown = Number.NaN;

  constructor(
    private readonly write: (text: string) => void,
    readonly enabled: boolean,
    private readonly minStep = 1,
  ) {}

  /** Show the starting 0%. */
  start(): void {
    this.set(0);
  }

  /** Set the percentage done (0–100). */
  set(percent: number): void {
    if (!this.enabled) return;
    this.current = Math.min(100, percent);
    const moved = Number.isNaN(this.lastShown) || Math.abs(this.current - this.lastShown) > this.minStep;
    if (moved || this.current === 0 || this.current === 100) {
      this.lastShown = this.current;
      this.write(`    (${this.current.toFixed(2)}/100%)\r`);
    }
  }

  /** End the display line. */
  end(): void {
    if (this.enabled) this.write('\n');
  }
}
