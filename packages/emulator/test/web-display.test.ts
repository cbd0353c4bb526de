// -display web end to end: the built tessera boots the test guest, chromium opens the page it
// announces, sees the guest's VGA text screen, and types a line on the PS/2 keyboard that the guest
// (tools/guest `echo` test on tty0) reads and echoes back.
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { executable, workspaceRoot } from '../../../tools/test-support/executables.ts';

const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
const BOOT_TIMEOUT_MS = 240_000;
const ECHO_LINE = 'tessera web 42';

/** vmlinuz and initrd of the test guest (tools/guest/build.sh prints NAME=PATH lines; cached). */
function guestFiles(): { vmlinuz: string; initrd: string } {
  const output = execFileSync(join(workspaceRoot, 'tools/guest/build.sh'), ['--quiet'], { encoding: 'utf8', timeout: 300_000 });
  const path = (name: string) => {
    const found = new RegExp(`^${name}=(.+)$`, 'm').exec(output)?.[1];
    if (!found) throw new Error(`tools/guest/build.sh printed no ${name}= line:\n${output}`);
    return found;
  };
  return { vmlinuz: path('vmlinuz'), initrd: path('initrd') };
}

/** Where the display says its page is, from tessera's output. */
function announcedUrl(child: ChildProcessWithoutNullStreams, output: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const url = /web display at (http:\/\/\S+)/.exec(output())?.[1];
      if (url) {
        child.stdout.off('data', check);
        child.stderr.off('data', check);
        resolve(url);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('close', (code) => reject(new Error(`tessera exited (${code}) before announcing the web display:\n${output()}`)));
  });
}

/** Light grey to white pixels (the text; not the black screen or its blue focus border) in a PNG, counted by the browser that decodes it. */
function brightPixels(page: Page, png: Buffer): Promise<number> {
  return page.evaluate(async (base64) => {
    // Runs in the page (this file is type-checked without DOM types, hence the loose typing).
    const g = globalThis as any;
    const image = new g.Image();
    image.src = `data:image/png;base64,${base64}`;
    await image.decode();
    const canvas = g.document.createElement('canvas');
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const data: Uint8ClampedArray = context.getImageData(0, 0, image.width, image.height).data;
    let bright = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i]! > 128 && data[i + 1]! > 128 && data[i + 2]! > 128) bright += 1;
    return bright;
  }, png.toString('base64'));
}

describe.skipIf(!existsSync(CHROMIUM))('tessera -display web (modular)', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;

  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('shows the booting guest in the browser and types into it', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async () => {
    const { vmlinuz, initrd } = guestFiles();
    const append = 'console=ttyS0 cryptomgr.notests=1 noisapnp nokaslr tessera.modules=none tessera.test=echo tessera.tty=tty0';
    const args = ['-m', '128', '-kernel', vmlinuz, '-initrd', initrd, '-append', append, '-display', 'web,port=0'];
    const started = Date.now();
    child = spawn(process.execPath, [executable('emulator', 'modular'), ...args], {
      env: { ...process.env, TESSERA_MODULE_DIR: undefined },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('latin1').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const url = await announcedUrl(child, () => output);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    profile = await mkdtemp(join(tmpdir(), 'tessera-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await context.newPage();
    await page.goto(url);

    // The guest mirrors its markers on the VGA text screen (/dev/tty0): the page must show them.
    const screenText = page.locator('#text');
    await expect
      .poll(() => screenText.textContent(), { timeout: BOOT_TIMEOUT_MS - (Date.now() - started), interval: 500 })
      .toContain('TESSERA-GUEST: echo ready tty=/dev/tty0');
    expect(await screenText.textContent()).toContain('TESSERA-GUEST: booted');
    expect(await page.locator('#serial-output').textContent()).toContain('TESSERA-GUEST: echo ready');
    const screenshot = await page.locator('#screen').screenshot();
    expect(await brightPixels(page, screenshot)).toBeGreaterThan(1000); // text, not a blank screen

    // Keyboard: the page's key events become PS/2 scancodes; the guest reads the line from tty0.
    await page.locator('#screen').click();
    await page.keyboard.type(ECHO_LINE, { delay: 20 });
    await page.keyboard.press('Enter');
    await expect.poll(() => screenText.textContent(), { timeout: 60_000, interval: 500 }).toContain(`TESSERA-GUEST: echo=${ECHO_LINE}`);
    await expect.poll(() => output, { timeout: 30_000 }).toContain(`TESSERA-GUEST: echo=${ECHO_LINE}`);
    await page.screenshot({ path: join(tmpdir(), 'tessera-web-display.png') });

    // The guest powers off after the echo test; tessera exits and the page loses its connection.
    await expect.poll(() => child!.exitCode, { timeout: 60_000, interval: 500 }).not.toBeNull();
    await page.locator('#status[data-state="disconnected"]').waitFor({ timeout: 10_000 });
  });
});
