// The page's markup. Embedded in the bundle: a module runs from the bytes the loader verified and has no files beside it.
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<header>
  <span class="title">Tessera</span>
  <span id="status" data-state="connecting">connecting…</span>
  <span class="hint">Click the screen to type on the machine's keyboard, or the serial console to type into its serial port.</span>
</header>
<main>
  <section class="panel">
    <h2>Screen</h2>
    <div id="screen" tabindex="0" data-mode="none" aria-label="Machine screen (keyboard input)">
      <pre id="text"></pre>
      <canvas id="canvas" hidden></canvas>
    </div>
  </section>
  <section class="panel">
    <h2>Serial console</h2>
    <div id="serial" tabindex="0" aria-label="Serial console (typing sends serial input)"><pre id="serial-output"></pre></div>
  </section>
</main>
<script src="app.js"></script>
</body>
</html>
`;
