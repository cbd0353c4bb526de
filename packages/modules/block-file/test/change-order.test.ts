// The order of one file's changes: large writes and truncates alone, in call order; smaller
// writes beside each other (change-order.ts says why). Each change here is a promise the test
// settles by hand, so what has started when is seen exactly.
import { describe, expect, it } from 'vitest';
import { ChangeOrder, WRITES_ALONE_FROM } from '../src/change-order.ts';

/** A change that records its start and finishes when the test says. */
function change(name: string, log: string[]) {
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<string>((resolve, reject) => {
    finish = () => resolve(name);
    fail = reject;
  });
  return {
    run: () => {
      log.push(name);
      return done;
    },
    finish,
    fail,
  };
}

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ChangeOrder', () => {
  it('starts small writes at once, beside each other', () => {
    const order = new ChangeOrder();
    const log: string[] = [];
    const [a, b] = [change('a', log), change('b', log)];
    order.small(a.run);
    order.small(b.run);
    expect(log).toEqual(['a', 'b']); // synchronously: no hop through the microtask queue either
    a.finish();
    b.finish();
  });

  it('starts a change that runs alone after every change before it, and holds every change after it', async () => {
    const order = new ChangeOrder();
    const log: string[] = [];
    const [a, b, big, c, big2, d] = ['a', 'b', 'big', 'c', 'big2', 'd'].map((name) => change(name, log));
    order.small(a!.run);
    order.small(b!.run);
    const bigDone = order.alone(big!.run);
    const cDone = order.small(c!.run);
    const big2Done = order.alone(big2!.run);
    order.small(d!.run);
    await settle();
    expect(log).toEqual(['a', 'b']);
    a!.finish();
    await settle();
    expect(log).toEqual(['a', 'b']); // b still under way
    b!.finish();
    await settle();
    expect(log).toEqual(['a', 'b', 'big']);
    big!.finish();
    await expect(bigDone).resolves.toBe('big');
    await settle();
    expect(log).toEqual(['a', 'b', 'big', 'c']); // c, issued after big and before big2
    c!.finish();
    await expect(cDone).resolves.toBe('c');
    await settle();
    expect(log).toEqual(['a', 'b', 'big', 'c', 'big2']);
    big2!.finish();
    await expect(big2Done).resolves.toBe('big2');
    await settle();
    expect(log).toEqual(['a', 'b', 'big', 'c', 'big2', 'd']);
    d!.finish();
  });

  it('goes on after a failed change, whose caller alone gets the error', async () => {
    const order = new ChangeOrder();
    const log: string[] = [];
    const [a, big, b, big2] = ['a', 'big', 'b', 'big2'].map((name) => change(name, log));
    const aDone = order.small(a!.run);
    const bigDone = order.alone(big!.run);
    const bDone = order.small(b!.run);
    const big2Done = order.alone(big2!.run);
    a!.fail(new Error('disk full'));
    await expect(aDone).rejects.toThrow('disk full');
    await settle();
    expect(log).toEqual(['a', 'big']);
    big!.fail(new Error('gone'));
    await expect(bigDone).rejects.toThrow('gone');
    await settle();
    expect(log).toEqual(['a', 'big', 'b']);
    b!.finish();
    await expect(bDone).resolves.toBe('b');
    await settle();
    expect(log).toEqual(['a', 'big', 'b', 'big2']);
    big2!.finish();
    await expect(big2Done).resolves.toBe('big2');
    // Nothing left waiting: the next small write starts at once again.
    await settle();
    const e = change('e', log);
    order.small(e.run);
    expect(log.at(-1)).toBe('e');
    e.finish();
  });

  it('runs a write alone from WRITES_ALONE_FROM bytes on', async () => {
    const order = new ChangeOrder();
    const log: string[] = [];
    const [under, atLimit, after] = ['under', 'at', 'after'].map((name) => change(name, log));
    order.write(WRITES_ALONE_FROM - 1, under!.run);
    order.write(WRITES_ALONE_FROM, atLimit!.run);
    order.write(1, after!.run);
    await settle();
    expect(log).toEqual(['under']);
    under!.finish();
    await settle();
    expect(log).toEqual(['under', 'at']);
    atLimit!.finish();
    await settle();
    expect(log).toEqual(['under', 'at', 'after']);
    after!.finish();
  });
});
