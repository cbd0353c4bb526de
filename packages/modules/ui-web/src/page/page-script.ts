// The page's script (plain browser JavaScript, sent as app.js). It mirrors protocol.ts: JSON text
// screens and key/serial events, binary graphics rows and serial output. Keys are sent as
// KeyboardEvent.code (physical positions); the server turns them into PS/2 scancodes.
export const PAGE_SCRIPT = String.raw`(() => {
  'use strict';
  const GRAPHICS = 1, SERIAL = 2, HEADER_BYTES = 20, SERIAL_KEEP_CHARS = 200000, SERIAL_RENDER_MS = 30;
  const screenArea = document.getElementById('screen');
  const textView = document.getElementById('text');
  const canvas = document.getElementById('canvas');
  const context = canvas.getContext('2d');
  const serialPane = document.getElementById('serial');
  const serialOutput = document.getElementById('serial-output');
  const statusView = document.getElementById('status');
  let socket;
  let decoder;
  let retryMs = 500;

  function setStatus(text, state) {
    statusView.textContent = text;
    statusView.dataset.state = state;
  }

  function connect() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    decoder = new TextDecoder();
    setStatus('connecting…', 'connecting');
    socket.onopen = () => {
      retryMs = 500;
      setStatus('connected', 'connected');
      serialOutput.textContent = ''; // the server sends its scrollback again
      serialPending = '';
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') showText(JSON.parse(event.data));
      else receiveBinary(event.data);
    };
    socket.onclose = () => {
      setStatus('disconnected, retrying…', 'disconnected');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function showText(message) {
    if (message.type !== 'text') return;
    const lines = [];
    for (let row = 0; row < message.rows; row++) {
      lines.push((message.lines[row] || '').padEnd(message.columns).slice(0, message.columns));
    }
    textView.style.setProperty('--columns', String(message.columns));
    textView.textContent = lines.join('\n');
    screenArea.dataset.mode = 'text';
    screenArea.dataset.columns = String(message.columns);
    screenArea.dataset.rows = String(message.rows);
    canvas.hidden = true;
    textView.hidden = false;
  }

  function receiveBinary(buffer) {
    const kind = new Uint8Array(buffer, 0, 1)[0];
    if (kind === SERIAL) appendSerial(decoder.decode(new Uint8Array(buffer, 1), { stream: true }));
    else if (kind === GRAPHICS) drawRows(buffer);
  }

  function drawRows(buffer) {
    const header = new DataView(buffer, 0, HEADER_BYTES);
    const width = header.getUint32(4, true);
    const height = header.getUint32(8, true);
    const firstRow = header.getUint32(12, true);
    const rowCount = header.getUint32(16, true);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const pixels = new Uint8ClampedArray(buffer, HEADER_BYTES, width * rowCount * 4);
    // The VGA has no transparency: show every pixel opaque whatever the frame's alpha bytes hold.
    for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255;
    context.putImageData(new ImageData(pixels, width, rowCount), 0, firstRow);
    screenArea.dataset.mode = 'graphics';
    delete screenArea.dataset.columns;
    delete screenArea.dataset.rows;
    textView.hidden = true;
    canvas.hidden = false;
  }

  // Serial output is shown at most every SERIAL_RENDER_MS: rewriting a long pane per message is slow.
  let serialPending = '';
  let serialTimer;
  function appendSerial(text) {
    serialPending += text;
    serialTimer = serialTimer || setTimeout(renderSerial, SERIAL_RENDER_MS);
  }

  // Enough of a terminal for a serial console: drop escape sequences and carriage returns, honour backspace.
  function renderSerial() {
    const text = serialPending;
    serialPending = '';
    serialTimer = undefined;
    const atBottom = serialPane.scrollTop + serialPane.clientHeight >= serialPane.scrollHeight - 4;
    let shown = serialOutput.textContent;
    for (const piece of text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, '').replace(/\r/g, '').split(/(\x08)/)) {
      shown = piece === '\x08' ? shown.slice(0, -1) : shown + piece;
    }
    if (shown.length > SERIAL_KEEP_CHARS) shown = shown.slice(shown.length - SERIAL_KEEP_CHARS);
    serialOutput.textContent = shown;
    if (atBottom) serialPane.scrollTop = serialPane.scrollHeight;
  }

  // Keyboard on the screen: every key press and release goes to the machine's PS/2 keyboard.
  const held = new Set();
  screenArea.addEventListener('keydown', (event) => {
    if (!event.code) return;
    event.preventDefault();
    held.add(event.code);
    send({ type: 'key', code: event.code, down: true });
  });
  screenArea.addEventListener('keyup', (event) => {
    if (!event.code) return;
    event.preventDefault();
    held.delete(event.code);
    send({ type: 'key', code: event.code, down: false });
  });
  // Releases go elsewhere once focus has left: let go of everything so no key stays stuck in the guest.
  screenArea.addEventListener('blur', () => {
    for (const code of held) send({ type: 'key', code, down: false });
    held.clear();
  });
  screenArea.addEventListener('mousedown', () => screenArea.focus());

  // Serial pane: characters as a terminal would send them.
  const SERIAL_KEYS = {
    Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b',
    ArrowUp: '\x1b[A', ArrowDown: '\x1b[B', ArrowRight: '\x1b[C', ArrowLeft: '\x1b[D',
    Home: '\x1b[H', End: '\x1b[F', Delete: '\x1b[3~', PageUp: '\x1b[5~', PageDown: '\x1b[6~',
  };
  function serialTextFor(event) {
    if (event.metaKey) return undefined;
    if (event.ctrlKey) {
      // Ctrl+Shift stays with the browser (copy, paste); Ctrl+letter is a control character.
      if (event.shiftKey || event.altKey || event.key.length !== 1) return undefined;
      const code = event.key.toUpperCase().charCodeAt(0);
      return code >= 0x40 && code <= 0x5f ? String.fromCharCode(code - 0x40) : undefined;
    }
    if (Object.prototype.hasOwnProperty.call(SERIAL_KEYS, event.key)) return SERIAL_KEYS[event.key];
    if ([...event.key].length === 1) return event.altKey ? '\x1b' + event.key : event.key;
    return undefined;
  }
  serialPane.addEventListener('keydown', (event) => {
    const text = serialTextFor(event);
    if (text === undefined) return;
    event.preventDefault();
    send({ type: 'serial', data: text });
  });
  serialPane.addEventListener('paste', (event) => {
    event.preventDefault();
    const text = event.clipboardData.getData('text').replace(/\r?\n/g, '\r');
    if (text) send({ type: 'serial', data: text });
  });

  connect();
})();
`;
