import { iscsiError, type IscsiErrorCode } from './errors.ts';
import type { Link } from './link.ts';
import type { SessionParameters } from './login.ts';
import { BHS_LENGTH, encodeDataOutSequence, encodeLun, encodePdu, FINAL, IMMEDIATE, OP, RESERVED_TAG, type Pdu } from './pdu.ts';

/** A SCSI command's outcome: status byte, sense data when CHECK CONDITION, bytes read. */
export interface CommandResult {
  readonly status: number;
  readonly sense?: Buffer;
  /** Bytes of the Data-In the target sent (at most the buffer's length). */
  readonly received: number;
}

interface Task {
  readonly itt: number;
  readonly dataIn?: Uint8Array;
  readonly dataOut?: Uint8Array;
  received: number;
  resolve(result: CommandResult): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Commands in flight at most (the target's CmdSN window may allow more): 960 KiB of 120 KiB
 * commands (lun-info.ts). tgtd gives each command a buffer of its own from its heap; serving a
 * 1 GiB convert with 16 in flight it returned pages and took them back (19,500-22,000 page
 * faults), with 8, 0-2,400.
 */
const MAX_IN_FLIGHT = 8;

/**
 * The full feature phase of one session on one connection: SCSI commands tagged by ITT, several
 * in flight within the target's CmdSN window; Data-In straight into the caller's buffer, R2Ts
 * answered with Data-Out. Any protocol fault or deadline ends the session (error recovery level 0).
 */
export class Session {
  private nextItt = 1;
  private cmdSN: number;
  private expStatSN: number;
  private maxCmdSN: number;
  private readonly tasks = new Map<number, Task>();
  /** Commands waiting for a slot or for the CmdSN window, in the order they came. */
  private readonly waiting: (() => void)[] = [];
  /** Waiters woken and not yet resumed: the slots they were woken for are theirs. */
  private woken = 0;
  private failure: Error | undefined;
  private readonly lun: Buffer;
  /** Commands in flight that read data (their Data-In PDUs carry payloads after the header). */
  private readsInFlight = 0;

  constructor(
    private readonly link: Link,
    readonly parameters: SessionParameters,
    lun: number,
    private readonly shownUrl: string,
    private readonly commandTimeoutMs: number,
  ) {
    this.cmdSN = parameters.cmdSN;
    this.expStatSN = parameters.expStatSN;
    this.maxCmdSN = parameters.maxCmdSN;
    this.lun = encodeLun(lun);
    void this.receiveLoop();
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Run one CDB; `dataIn` receives read data, `dataOut` is sent (immediate data, then on R2T). */
  async command(cdb: Uint8Array, transfer: { dataIn?: Uint8Array; dataOut?: Uint8Array } = {}): Promise<CommandResult> {
    if (this.waiting.length > 0 || this.woken > 0 || !this.mayStart(0)) {
      // Woken with a slot of its own: wake counts the slots it hands out, and commands made
      // meanwhile queue behind the woken (MaxCmdSN only moves forward).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      this.woken--;
    }
    if (this.failure) throw this.failure;
    const itt = this.nextItt;
    this.nextItt = this.nextItt >= 0x7fffffff ? 1 : this.nextItt + 1;
    const cmdSN = this.cmdSN;
    this.cmdSN = (this.cmdSN + 1) >>> 0;
    const out = transfer.dataOut;
    const length = out?.length ?? transfer.dataIn?.length ?? 0;
    // Immediate data up to FirstBurstLength and the target's segment limit; the rest on R2T (F set: no unsolicited Data-Out).
    const immediate = out && this.parameters.immediateData ? out.subarray(0, Math.min(out.length, this.parameters.firstBurstLength, this.parameters.targetMaxRecv)) : undefined;
    const flags = FINAL | (transfer.dataIn ? 0x40 : 0) | (out ? 0x20 : 0) | 1; // F, R, W, simple task attribute
    const padded = new Uint8Array(16);
    padded.set(cdb);
    const result = new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(iscsiError(`${this.shownUrl}: the target did not complete a SCSI command (opcode 0x${cdb[0]!.toString(16)}) within ${this.commandTimeoutMs / 1000} s (timeout=${this.commandTimeoutMs / 1000})`, 'iscsi-timeout'));
      }, this.commandTimeoutMs);
      if (transfer.dataIn) this.readsInFlight++;
      this.tasks.set(itt, { itt, ...(transfer.dataIn ? { dataIn: transfer.dataIn } : {}), ...(out ? { dataOut: out } : {}), received: 0, resolve, reject, timer });
    });
    this.link.send(
      encodePdu({ opcode: OP.SCSI_COMMAND, flags, lun: this.lun, itt, words: { 20: length, 24: cmdSN, 28: this.expStatSN }, cdb: padded }, immediate),
    );
    return result;
  }

  /** Log out (close the session), within `deadlineMs`; the socket ends either way. */
  async logout(deadlineMs: number): Promise<void> {
    if (this.failure) return;
    const done = new Promise<void>((resolve) => {
      this.logoutDone = resolve;
      setTimeout(resolve, deadlineMs).unref();
    });
    this.link.send(encodePdu({ opcode: OP.LOGOUT_REQUEST | IMMEDIATE, flags: FINAL, itt: RESERVED_TAG - 1, words: { 20: 0, 24: this.cmdSN, 28: this.expStatSN } }));
    await done;
    this.closing = true;
    this.fail(iscsiError(`${this.shownUrl}: the session is closed`, 'iscsi-disconnected'));
  }

  private logoutDone: (() => void) | undefined;
  private closing = false;

  /** End the session: every outstanding and later command fails with `error`. */
  fail(error: Error): void {
    this.failure ??= error;
    this.link.reader.fail(this.failure);
    this.link.socket.destroy();
    for (const task of this.tasks.values()) {
      clearTimeout(task.timer);
      task.reject(this.failure);
    }
    this.tasks.clear();
    this.readsInFlight = 0;
    this.wake();
  }

  /** Whether one more command may start beside `reserved` already promised to woken waiters. */
  private mayStart(reserved: number): boolean {
    // Serial number arithmetic (RFC 1982): CmdSN may go up to MaxCmdSN.
    return this.tasks.size + reserved < MAX_IN_FLIGHT && ((this.maxCmdSN - this.cmdSN) | 0) >= reserved;
  }

  /**
   * Wake as many waiters, first come first, as there are free slots in flight and in the window.
   * Waking them all at every reply made each reply cost a turn of every waiting command: a 1 GiB
   * copy in 64 KiB commands, 16 in flight, took 2.8 s of user CPU, 1.5 s with this.
   */
  private wake(): void {
    while (this.waiting.length > 0 && (this.failure || this.mayStart(this.woken))) {
      this.woken++;
      this.waiting.shift()!();
    }
  }

  private protocolError(why: string, code: IscsiErrorCode = 'iscsi-protocol'): never {
    throw iscsiError(`${this.shownUrl}: ${why}`, code);
  }

  private async receiveLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.failure) return;
        const pdu = await this.receiveHeaderAndData();
        if (pdu) this.handle(pdu);
      }
    } catch (error) {
      if (this.closing) return;
      const e = error as Error & { code?: string };
      this.fail(e.message.startsWith(this.shownUrl) ? e : iscsiError(`${this.shownUrl}: ${e.message}`, (e.code as IscsiErrorCode) ?? 'iscsi-protocol', e));
    }
  }

  /**
   * The next PDU. Data-In goes from the socket's chunks straight into its task's buffer (handled
   * here, undefined returned): no segment-sized buffer per PDU, no second copy.
   */
  private async receiveHeaderAndData(): Promise<Pdu | undefined> {
    // While read data is due, headers are read on their own so that payloads land in their tasks' buffers.
    this.link.reader.sizeReads(this.readsInFlight > 0 ? BHS_LENGTH : 0);
    const { opcode, header, dataLength, padding } = await this.link.receiveHeader();
    if (opcode !== OP.DATA_IN) {
      const data = dataLength + padding ? await this.link.reader.read(dataLength + padding) : Buffer.alloc(0);
      return { opcode, header, data: data.subarray(0, dataLength) };
    }
    const task = this.task(header.readUInt32BE(16));
    const offset = header.readUInt32BE(40);
    if (!task.dataIn || offset + dataLength > task.dataIn.length || offset !== task.received) {
      this.protocolError(`the target sent ${dataLength} bytes of read data at offset ${offset}, outside the ${task.dataIn?.length ?? 0} bytes asked for or out of order`);
    }
    await this.link.reader.readInto(task.dataIn.subarray(offset, offset + dataLength));
    if (padding) await this.link.reader.read(padding);
    task.received += dataLength;
    const status = (header[1]! & 0x01) !== 0;
    this.updateSequence(header, status);
    if (status) this.finish(task, header[3]!, undefined);
    return undefined;
  }

  private updateSequence(header: Buffer, hasStatSN: boolean): void {
    if (hasStatSN) this.expStatSN = (header.readUInt32BE(24) + 1) >>> 0;
    const expCmdSN = header.readUInt32BE(28);
    const maxCmdSN = header.readUInt32BE(32);
    // MaxCmdSN only moves forward, and only when the pair is sane (§4.2.2.1).
    if (((maxCmdSN - expCmdSN + 1) | 0) >= 0 && ((maxCmdSN - this.maxCmdSN) | 0) > 0) {
      this.maxCmdSN = maxCmdSN;
      this.wake();
    }
  }

  private handle(pdu: Pdu): void {
    const { header } = pdu;
    const itt = header.readUInt32BE(16);
    switch (pdu.opcode) {
      case OP.SCSI_RESPONSE: {
        const task = this.task(itt);
        this.updateSequence(header, true);
        if (header[2] !== 0) this.protocolError(`the target failed a command with iSCSI response 0x${header[2]!.toString(16)}`);
        let sense: Buffer | undefined;
        if (pdu.data.length >= 2) {
          const senseLength = pdu.data.readUInt16BE(0);
          if (senseLength + 2 > pdu.data.length) this.protocolError(`the target sent sense data of ${senseLength} bytes in a ${pdu.data.length}-byte segment`);
          sense = pdu.data.subarray(2, 2 + senseLength);
        }
        this.finish(task, header[3]!, sense);
        return;
      }
      case OP.R2T: {
        const task = this.task(itt);
        this.updateSequence(header, false);
        const ttt = header.readUInt32BE(20);
        const offset = header.readUInt32BE(40);
        const length = header.readUInt32BE(44);
        const out = task.dataOut;
        if (!out || length === 0 || offset + length > out.length || length > this.parameters.maxBurstLength) {
          this.protocolError(`the target asked (R2T) for ${length} bytes at offset ${offset} of a ${out?.length ?? 0}-byte write`);
        }
        this.sendDataOut(itt, ttt, out.subarray(offset, offset + length), offset);
        return;
      }
      case OP.NOP_IN: {
        this.updateSequence(header, itt === RESERVED_TAG ? false : true);
        const ttt = header.readUInt32BE(20);
        // A ping from the target (a TTT): answer it, as §11.18 requires.
        if (ttt !== RESERVED_TAG) {
          this.link.send(encodePdu({ opcode: OP.NOP_OUT | IMMEDIATE, flags: FINAL, lun: this.lun, itt: RESERVED_TAG, words: { 20: ttt, 24: this.cmdSN, 28: this.expStatSN } }));
        }
        return;
      }
      case OP.LOGOUT_RESPONSE:
        this.closing = true;
        this.logoutDone?.();
        return;
      case OP.ASYNC_MESSAGE: {
        this.updateSequence(header, true);
        const event = header[36]!;
        // Events 1–3: the target drops the connection or session, or asks for a logout.
        if (event >= 1 && event <= 3) this.protocolError('the target is ending the session (asynchronous message)', 'iscsi-disconnected');
        return;
      }
      case OP.REJECT:
        this.protocolError(`the target rejected a PDU (reason 0x${header[2]!.toString(16)})`);
      // falls through (never returns)
      default:
        this.protocolError(`the target sent an unexpected PDU (opcode 0x${pdu.opcode.toString(16)})`);
    }
  }

  private sendDataOut(itt: number, ttt: number, data: Uint8Array, offset: number): void {
    this.link.send(encodeDataOutSequence(this.lun, itt, ttt, this.expStatSN, offset, data, this.parameters.targetMaxRecv));
  }

  private task(itt: number): Task & { dataIn: Uint8Array } {
    const task = this.tasks.get(itt);
    if (!task) this.protocolError(`the target answered a command that is not outstanding (task tag ${itt})`);
    return task as Task & { dataIn: Uint8Array };
  }

  private finish(task: Task, status: number, sense: Buffer | undefined): void {
    clearTimeout(task.timer);
    this.tasks.delete(task.itt);
    if (task.dataIn) this.readsInFlight--;
    task.resolve({ status, ...(sense ? { sense } : {}), received: task.received });
    this.wake();
  }
}
