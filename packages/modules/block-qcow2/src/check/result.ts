// The running tally of one check pass, in the shape qemu-img reports (see CheckResult).

export class CheckTally {
  corruptions = 0;
  leaks = 0;
  checkErrors = 0;
  corruptionsFixed = 0;
  leaksFixed = 0;
  /** Lines qemu prints on stderr while it checks, in order. */
  readonly messages: string[] = [];

  corrupt(message: string): void {
    this.corruptions++;
    this.messages.push(message);
  }

  snapshot(): TallyCounts {
    return { corruptions: this.corruptions, leaks: this.leaks, checkErrors: this.checkErrors };
  }

  restore(counts: TallyCounts): void {
    this.corruptions = counts.corruptions;
    this.leaks = counts.leaks;
    this.checkErrors = counts.checkErrors;
  }
}

export interface TallyCounts {
  readonly corruptions: number;
  readonly leaks: number;
  readonly checkErrors: number;
}

/** The check itself could not finish (qemu-img: "Check failed: <reason>", exit 1); carries what was printed so far. */
export class CheckFailure extends Error {
  constructor(
    reason: string,
    readonly messages: readonly string[],
  ) {
    super(reason);
    this.name = 'CheckFailure';
  }
}

/** Hex as qemu's PRIx64 prints it (no prefix). */
export const hex = (value: bigint | number): string => BigInt(value).toString(16);
