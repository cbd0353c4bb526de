import type { Feature } from '../module/types.ts';
import type { DisplayBackend, UiRegistrar } from './types.ts';

/** Display front ends by name; a missing one is asked of the module system (`-display web`). */
export class UiLayer implements UiRegistrar {
  private readonly displays = new Map<string, DisplayBackend>();

  constructor(private readonly requireFeature: (feature: Feature) => Promise<boolean>) {}

  registerDisplay(backend: DisplayBackend): void {
    if (this.displays.has(backend.name)) throw new Error(`display ${backend.name} is registered twice`);
    this.displays.set(backend.name, backend);
  }

  async display(name: string): Promise<DisplayBackend | undefined> {
    if (!this.displays.has(name)) await this.requireFeature(`ui-display:${name}`);
    return this.displays.get(name);
  }
}
