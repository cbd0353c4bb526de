/** A network backend (`-netdev NAME,…`), registered by net modules. */
export interface NetBackend {
  readonly name: string;
  readonly options?: readonly string[];
  open(options: Readonly<Record<string, string>>): Promise<NetPort>;
}

/** One end of an Ethernet link: frames out to the peer, frames in from it. */
export interface NetPort {
  send(frame: Uint8Array): void;
  onReceive(listener: (frame: Uint8Array) => void): void;
  close(): Promise<void>;
}

export interface NetRegistrar {
  registerNetdev(backend: NetBackend): void;
}
