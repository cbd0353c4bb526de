// The shared corkForTick (block-nbd's requests, block-iscsi's PDUs): what is written in one turn
// of the event loop leaves in one writev, and the stream is uncorked once the tick is over, however
// often it was asked to cork meanwhile.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { corkForTick } from '@tessera/module-kit/socket/cork-for-tick';

/** A stream that records each batch it is handed: a writev's chunks together, a lone write alone. */
function recorder(): { stream: Writable; batches: string[][] } {
  const batches: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      batches.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      batches.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      done();
    },
  });
  return { stream, batches };
}

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe('corkForTick', () => {
  it('sends the writes of one tick together, and those of the next tick apart from them', async () => {
    const { stream, batches } = recorder();
    corkForTick(stream);
    stream.write('a');
    corkForTick(stream); // asked again in the same tick: still one cork
    stream.write('b');
    stream.write('c');
    expect(batches).toEqual([]);
    await nextTick();
    expect(stream.writableCorked).toBe(0);
    corkForTick(stream);
    stream.write('d');
    await nextTick();
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([['a', 'b', 'c'], ['d']]);
    expect(stream.writableCorked).toBe(0);
  });
});
