import type { VgaLayer } from '../machine/v86-internals.ts';

/** The guest's graphics screen as RGBA, assembled from the rectangles v86's VGA hands out. */
export class Framebuffer {
  width = 0;
  height = 0;
  rgba = new Uint8Array(0);

  resize(width: number, height: number): void {
    this.width = width;
    this.height = height;
    this.rgba = new Uint8Array(width * height * 4);
  }

  /** Copy the layers in; returns whether anything changed. */
  draw(layers: readonly VgaLayer[]): boolean {
    let changed = false;
    for (const layer of layers) {
      const source = layer.image_data.data;
      const sourceWidth = layer.image_data.width;
      const rows = Math.min(layer.buffer_height, this.height - layer.screen_y);
      const columns = Math.min(layer.buffer_width, this.width - layer.screen_x);
      for (let y = 0; y < rows; y++) {
        const from = ((layer.buffer_y + y) * sourceWidth + layer.buffer_x) * 4;
        const to = ((layer.screen_y + y) * this.width + layer.screen_x) * 4;
        this.rgba.set(source.subarray(from, from + columns * 4), to);
        // v86 leaves alpha unset in some modes: the screen is always opaque.
        for (let a = to + 3; a < to + columns * 4; a += 4) this.rgba[a] = 255;
        changed = true;
      }
    }
    return changed;
  }
}
