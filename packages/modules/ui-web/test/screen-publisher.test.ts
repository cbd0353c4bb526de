import { afterEach, describe, expect, it } from 'vitest';
import { GRAPHICS_HEADER_BYTES } from '../src/protocol.ts';
import { FRAME_RATE, ScreenPublisher } from '../src/screen-publisher.ts';
import { TestMachine } from './helpers/test-machine.ts';

class Receiver {
  readonly messages: (string | Buffer)[] = [];
  bufferedAmount = 0;
  send(data: string | Buffer): void {
    this.messages.push(data);
  }
}

const publishers: ScreenPublisher[] = [];
afterEach(() => publishers.splice(0).forEach((publisher) => publisher.close()));

function publish(machine: TestMachine): ScreenPublisher {
  const publisher = new ScreenPublisher(machine);
  publishers.push(publisher);
  return publisher;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('screen publishing', () => {
  it('sends the screen at once to a new page, then only changes', async () => {
    const machine = new TestMachine(['hello']);
    const receiver = new Receiver();
    publish(machine).add(receiver);
    expect(receiver.messages).toEqual([JSON.stringify({ type: 'text', columns: 80, rows: 25, lines: ['hello'] })]);
    machine.showText(['hello']); // a change notification without a change
    await sleep(120);
    expect(receiver.messages).toHaveLength(1);
    machine.showText(['hello', 'world']);
    await sleep(120);
    expect(receiver.messages).toHaveLength(2);
  });

  it(`sends at most ${FRAME_RATE} frames a second however often the screen changes`, async () => {
    const machine = new TestMachine();
    const rgba = machine.showGraphics(64, 48);
    const receiver = new Receiver();
    publish(machine).add(receiver);
    const started = Date.now();
    for (let i = 0; i < 400; i++) {
      rgba[i * 4] = 200;
      machine.fillRect(0, 0, 1, 1, [i % 256, 0, 0]);
      await sleep(2);
    }
    await sleep(100);
    const seconds = (Date.now() - started) / 1000;
    expect(receiver.messages.length).toBeGreaterThan(2);
    expect(receiver.messages.length).toBeLessThanOrEqual(Math.ceil(seconds * FRAME_RATE) + 2);
  });

  it('sends only the rows that changed to an up-to-date page, the whole frame to a new one', async () => {
    const machine = new TestMachine();
    machine.showGraphics(32, 20);
    const first = new Receiver();
    const publisher = publish(machine);
    publisher.add(first);
    machine.fillRect(4, 5, 3, 2, [255, 0, 0]);
    await sleep(120);
    const band = first.messages[1] as Buffer;
    expect(band.readUInt32LE(12)).toBe(5); // first row
    expect(band.readUInt32LE(16)).toBe(2); // row count
    expect(band.length).toBe(GRAPHICS_HEADER_BYTES + 2 * 32 * 4);
    const second = new Receiver();
    publisher.add(second);
    expect((second.messages[0] as Buffer).readUInt32LE(16)).toBe(20);
  });

  it('lets a slow page skip frames and catch up with a whole one', async () => {
    const machine = new TestMachine();
    machine.showGraphics(16, 16);
    const slow = new Receiver();
    publish(machine).add(slow);
    slow.bufferedAmount = 64 * 1024 * 1024;
    for (let i = 0; i < 5; i++) {
      machine.fillRect(0, i, 1, 1, [255, 255, 255]);
      await sleep(60);
    }
    expect(slow.messages).toHaveLength(1);
    slow.bufferedAmount = 0;
    await sleep(120);
    expect(slow.messages).toHaveLength(2);
    expect((slow.messages[1] as Buffer).readUInt32LE(16)).toBe(16);
  });
});
