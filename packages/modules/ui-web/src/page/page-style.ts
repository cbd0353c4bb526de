// The page's look: a VGA-like screen (light grey on black, monospace) above a serial terminal pane.
export const PAGE_CSS = `
:root { color-scheme: dark; font-family: system-ui, sans-serif; }
body { margin: 0; background: #1b1e23; color: #d6d9de; }
header { display: flex; gap: 1em; align-items: baseline; padding: 0.5em 1em; background: #262a31; }
.title { font-weight: 600; }
.hint { color: #8a919c; font-size: 0.85em; }
#status { font-size: 0.85em; padding: 0 0.5em; border-radius: 3px; background: #5a4a1a; }
#status[data-state="connected"] { background: #1f5130; }
#status[data-state="disconnected"] { background: #6a2323; }
main { padding: 0.5em 1em; }
h2 { font-size: 0.9em; font-weight: 600; margin: 0.6em 0 0.3em; color: #aab1bb; }
#screen { display: inline-block; background: #000; padding: 6px; border: 2px solid #3a3f48; outline: none; }
#screen:focus { border-color: #4d8fe0; }
#text {
  margin: 0; color: #c0c0c0; background: #000;
  font: 16px/1.15 "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace;
  width: calc(var(--columns, 80) * 1ch); white-space: pre; overflow: hidden;
}
#canvas { display: block; image-rendering: pixelated; }
#canvas[hidden], #text[hidden] { display: none; }
#serial {
  height: 16em; max-width: 100%; overflow: auto; background: #0e1114; border: 2px solid #3a3f48; outline: none;
  padding: 4px 6px;
}
#serial:focus { border-color: #4d8fe0; }
#serial-output { margin: 0; font: 13px/1.3 "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace; white-space: pre-wrap; word-break: break-all; }
`;
