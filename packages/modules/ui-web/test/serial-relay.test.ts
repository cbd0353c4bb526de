import { afterEach, describe, expect, it } from 'vitest';
import { SERIAL_MESSAGE } from '../src/protocol.ts';
import { SerialRelay } from '../src/serial-relay.ts';
import { TestMachine } from './helpers/test-machine.ts';

const relays: SerialRelay[] = [];
afterEach(() => relays.splice(0).forEach((relay) => relay.close()));

function relay(machine: TestMachine): SerialRelay {
  const created = new SerialRelay(machine);
  relays.push(created);
  return created;
}

class Receiver {
  readonly messages: Buffer[] = [];
  send(data: Buffer): void {
    this.messages.push(data);
  }
  text(): string {
    return this.messages.map((message) => message.subarray(1).toString('latin1')).join('');
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('serial relay', () => {
  it('gathers byte-at-a-time output into one message per burst', async () => {
    const machine = new TestMachine();
    const receiver = new Receiver();
    relay(machine).add(receiver);
    for (const byte of Buffer.from('Linux version 6.1\r\n')) machine.serialOutput(String.fromCharCode(byte));
    await sleep(40);
    expect(receiver.messages).toHaveLength(1);
    expect(receiver.messages[0]![0]).toBe(SERIAL_MESSAGE);
    expect(receiver.text()).toBe('Linux version 6.1\r\n');
  });

  it('replays the last 64 KiB to a page that connects later, in order', async () => {
    const machine = new TestMachine();
    const serial = relay(machine);
    const line = (n: number) => `line ${String(n).padStart(5, '0')} ${'x'.repeat(50)}\n`; // 62 bytes
    for (let n = 0; n < 2000; n++) {
      machine.serialOutput(line(n));
      if (n % 100 === 0) await sleep(12); // several bursts, so several scrollback chunks
    }
    machine.serialOutput('pending');
    const late = new Receiver();
    serial.add(late);
    const text = late.text();
    expect(text.length).toBe(64 * 1024);
    expect(text.endsWith(`${line(1999)}pending`)).toBe(true);
    await sleep(30);
    expect(late.messages).toHaveLength(1); // the pending bytes came with the scrollback, not twice
  });
});
