// What travels over the page's WebSocket. Server to page: the text screen as JSON; graphics and
// serial output as binary (frames are large, serial bytes may split UTF-8 sequences and are decoded
// by the page as a stream). Page to server: JSON key and serial-input events.

export const GRAPHICS_MESSAGE = 1;
export const SERIAL_MESSAGE = 2;
/** kind u8, 3 bytes padding, then width, height, first row, row count as u32 little-endian. */
export const GRAPHICS_HEADER_BYTES = 20;

export interface TextScreenMessage {
  readonly type: 'text';
  readonly columns: number;
  readonly rows: number;
  readonly lines: readonly string[];
}

export type ClientMessage =
  | { readonly type: 'key'; readonly code: string; readonly down: boolean }
  | { readonly type: 'serial'; readonly data: string };

export function encodeTextScreen(columns: number, rows: number, lines: readonly string[]): string {
  return JSON.stringify({ type: 'text', columns, rows, lines } satisfies TextScreenMessage);
}

/** Rows [firstRow, firstRow + rowCount) of a width × height RGBA frame. */
export function encodeGraphicsRows(width: number, height: number, rgba: Uint8Array, firstRow: number, rowCount: number): Buffer {
  const rowBytes = width * 4;
  const message = Buffer.allocUnsafe(GRAPHICS_HEADER_BYTES + rowCount * rowBytes);
  message.fill(0, 0, 4);
  message[0] = GRAPHICS_MESSAGE;
  message.writeUInt32LE(width, 4);
  message.writeUInt32LE(height, 8);
  message.writeUInt32LE(firstRow, 12);
  message.writeUInt32LE(rowCount, 16);
  message.set(rgba.subarray(firstRow * rowBytes, (firstRow + rowCount) * rowBytes), GRAPHICS_HEADER_BYTES);
  return message;
}

export function encodeSerial(data: Uint8Array): Buffer {
  const message = Buffer.allocUnsafe(1 + data.length);
  message[0] = SERIAL_MESSAGE;
  message.set(data, 1);
  return message;
}

/** A page's message, or undefined for anything malformed (ignored: pages are not trusted to be well-behaved). */
export function decodeClientMessage(raw: string): ClientMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.type === 'key' && typeof message.code === 'string' && typeof message.down === 'boolean') {
    return { type: 'key', code: message.code, down: message.down };
  }
  if (message.type === 'serial' && typeof message.data === 'string') return { type: 'serial', data: message.data };
  return undefined;
}
