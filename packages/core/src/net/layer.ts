import type { Feature } from '../module/types.ts';
import type { NetBackend, NetRegistrar } from './types.ts';

/** Network backends by name; a missing one is asked of the module system (`-netdev socket`). */
export class NetLayer implements NetRegistrar {
  private readonly backends = new Map<string, NetBackend>();

  constructor(private readonly requireFeature: (feature: Feature) => Promise<boolean>) {}

  registerNetdev(backend: NetBackend): void {
    if (this.backends.has(backend.name)) throw new Error(`netdev ${backend.name} is registered twice`);
    this.backends.set(backend.name, backend);
  }

  async netdev(name: string): Promise<NetBackend | undefined> {
    if (!this.backends.has(name)) await this.requireFeature(`net-backend:${name}`);
    return this.backends.get(name);
  }
}
