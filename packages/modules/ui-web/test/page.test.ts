// The page in a real browser (Debian's chromium through playwright-core) against a TestMachine.
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { DisplaySession } from '@tessera/core';
import { webDisplay } from '../src/web-display.ts';
import { chromiumMissing, launchBrowser, type TestBrowser } from './helpers/browser.ts';
import { TestMachine } from './helpers/test-machine.ts';

interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { readonly data: Iterable<number> } };
}

const SCREENSHOT_DIR = new URL('../test-output/', import.meta.url);

describe.skipIf(chromiumMissing)('the page in chromium', () => {
  const machine = new TestMachine(['Tessera BIOS test screen', '', 'C:\\> dir', 'ready_'], 80, 25);
  let session: DisplaySession;
  let url: string;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    session = await webDisplay.open(machine, { port: '0' });
    url = session.message!.replace(/^.* at /, '');
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.goto(url);
    await page.locator('#status[data-state="connected"]').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await session?.close();
  });

  async function typed(action: () => Promise<void>, count: number): Promise<number[]> {
    machine.scancodes.length = 0;
    await action();
    await expect.poll(() => machine.scancodes.length).toBeGreaterThanOrEqual(count);
    await new Promise((resolve) => setTimeout(resolve, 50)); // nothing more should follow
    return [...machine.scancodes];
  }

  it('shows the text screen with its rows and columns', async () => {
    await expect.poll(() => page.locator('#text').textContent()).toContain('Tessera BIOS test screen');
    const text = (await page.locator('#text').textContent())!;
    const lines = text.split('\n');
    expect(lines).toHaveLength(25);
    expect(lines.every((line) => line.length === 80)).toBe(true);
    expect(lines[2]!.trimEnd()).toBe('C:\\> dir');
    expect(await page.locator('#screen').getAttribute('data-columns')).toBe('80');
    // 40-column mode: the screen narrows.
    const wide = (await page.locator('#text').boundingBox())!.width;
    machine.showText(['forty columns'], 40, 25);
    await expect.poll(() => page.locator('#screen').getAttribute('data-columns')).toBe('40');
    expect((await page.locator('#text').boundingBox())!.width).toBeCloseTo(wide / 2, -1);
  });

  it('shows serial output in the serial pane, including what came before the page opened', async () => {
    machine.serialOutput('Linux version 6.1 (tessera)\r\nlogin: ');
    await expect.poll(() => page.locator('#serial-output').textContent()).toContain('Linux version 6.1 (tessera)\nlogin: ');
    const late = await browser.context.newPage();
    try {
      await late.goto(url);
      await expect.poll(() => late.locator('#serial-output').textContent()).toContain('login: ');
    } finally {
      await late.close();
    }
  });

  it('sends typing in the serial pane to the serial port', async () => {
    machine.serialInput.length = 0;
    await page.locator('#serial').click();
    await page.keyboard.type('root');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Backspace');
    await page.keyboard.press('Control+C');
    await expect.poll(() => machine.serialInputText()).toBe('root\r\x7f\x03');
    expect(machine.scancodes).toEqual([]); // the serial pane is not the keyboard
  });

  it('turns keys pressed on the screen into PS/2 set 1 scancodes', async () => {
    machine.serialInput.length = 0;
    await page.locator('#screen').click();
    expect(await typed(() => page.keyboard.press('a'), 2)).toEqual([0x1e, 0x9e]);
    expect(await typed(() => page.keyboard.press('Shift+A'), 4)).toEqual([0x2a, 0x1e, 0x9e, 0xaa]);
    expect(await typed(() => page.keyboard.press('Enter'), 2)).toEqual([0x1c, 0x9c]);
    expect(await typed(() => page.keyboard.press('ArrowUp'), 4)).toEqual([0xe0, 0x48, 0xe0, 0xc8]);
    expect(await typed(() => page.keyboard.press('Control+ArrowLeft'), 6)).toEqual([0x1d, 0xe0, 0x4b, 0xe0, 0xcb, 0x9d]);
    expect(await typed(() => page.keyboard.type('1/'), 4)).toEqual([0x02, 0x82, 0x35, 0xb5]);
    expect(await typed(() => page.keyboard.press('Backspace'), 2)).toEqual([0x0e, 0x8e]);
    expect(await typed(() => page.keyboard.press('Tab'), 2)).toEqual([0x0f, 0x8f]); // stays on the screen
    expect(machine.serialInput).toEqual([]);
  });

  it('releases keys still held when the screen loses focus', async () => {
    await page.locator('#screen').click();
    expect(await typed(() => page.keyboard.down('Alt'), 1)).toEqual([0x38]);
    expect(await typed(() => page.locator('#serial').click(), 1)).toEqual([0xb8]);
    await page.keyboard.up('Alt');
  });

  it('draws graphics frames on a canvas with the right colours', async () => {
    machine.showGraphics(320, 200);
    machine.fillRect(10, 20, 30, 10, [255, 0, 0]);
    machine.fillRect(100, 150, 5, 5, [0, 128, 255]);
    await page.locator('#canvas:not([hidden])').waitFor();
    expect(await page.locator('#text').isHidden()).toBe(true);
    const pixel = (x: number, y: number) =>
      page.locator('#canvas').evaluate(
        (element, [x, y]) => {
          const canvas = element as unknown as CanvasLike; // runs in the page; tsc here has no DOM types
          return [canvas.width, canvas.height, ...canvas.getContext('2d').getImageData(x!, y!, 1, 1).data];
        },
        [x, y],
      );
    await expect.poll(() => pixel(12, 22)).toEqual([320, 200, 255, 0, 0, 255]);
    expect(await pixel(102, 152)).toEqual([320, 200, 0, 128, 255, 255]);
    expect(await pixel(0, 0)).toEqual([320, 200, 0, 0, 0, 255]);
    // A later change arrives as a band of rows and lands in the right place.
    machine.fillRect(300, 190, 10, 10, [0, 255, 0]);
    await expect.poll(() => pixel(305, 195)).toEqual([320, 200, 0, 255, 0, 255]);
    expect(await pixel(12, 22)).toEqual([320, 200, 255, 0, 0, 255]);
  });

  it('keeps several tabs in step', async () => {
    const second = await browser.context.newPage();
    try {
      await second.goto(url);
      machine.showText(['two tabs'], 80, 25);
      for (const tab of [page, second]) {
        await expect.poll(() => tab.locator('#text').textContent()).toContain('two tabs');
      }
      machine.serialOutput('both see this\r\n');
      for (const tab of [page, second]) {
        await expect.poll(() => tab.locator('#serial-output').textContent()).toContain('both see this');
      }
    } finally {
      await second.close();
    }
  });

  it('looks like a console (screenshot)', async () => {
    machine.showText(
      ['Tessera test machine', '', 'Booting from Hard Disk...', 'Welcome to the guest.', 'guest login: _'],
      80,
      25,
    );
    machine.serialOutput('[    0.000000] Linux version 6.1.0 (tessera)\r\n[    0.120000] Console: colour VGA+ 80x25\r\n');
    await expect.poll(() => page.locator('#text').textContent()).toContain('guest login');
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const image = await page.screenshot({ path: new URL('page.png', SCREENSHOT_DIR).pathname });
    expect(image.length).toBeGreaterThan(10_000);
  });

  it('disconnects the page when the display closes', async () => {
    const machineB = new TestMachine(['second display']);
    const other = await webDisplay.open(machineB, { port: '0' });
    const tab = await browser.context.newPage();
    try {
      await tab.goto(other.message!.replace(/^.* at /, ''));
      await tab.locator('#status[data-state="connected"]').waitFor();
      await other.close();
      await tab.locator('#status[data-state="disconnected"]').waitFor();
      expect(machineB.listenerCount).toBe(0);
    } finally {
      await tab.close();
    }
  });
});
