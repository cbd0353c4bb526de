/**
 * v86's VGA allocates its graphics framebuffer only when a global `ImageData` exists (it is a
 * browser class). Node has none: define a minimal one, and only when a display will read the
 * framebuffer, so a headless machine pays nothing for graphics.
 */
export function installImageDataPolyfill(): void {
  const scope = globalThis as { ImageData?: unknown };
  if (scope.ImageData !== undefined) return;
  scope.ImageData = class ImageData {
    readonly data: Uint8ClampedArray;
    readonly width: number;
    readonly height: number;
    constructor(dataOrWidth: Uint8ClampedArray | number, widthOrHeight: number, height?: number) {
      if (typeof dataOrWidth === 'number') {
        this.width = dataOrWidth;
        this.height = widthOrHeight;
        this.data = new Uint8ClampedArray(this.width * this.height * 4);
      } else {
        this.data = dataOrWidth;
        this.width = widthOrHeight;
        this.height = height ?? dataOrWidth.length / 4 / widthOrHeight;
      }
    }
  };
}
