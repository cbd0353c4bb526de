/** A network backend (`-netdev NAME,id=…,key=value,…`), registered by net modules. */
export interface NetBackend {
  readonly name: string;
  /** Options it accepts (besides `id`). */
  readonly options?: readonly string[];
  /** Set up the backend (listen, connect, join a group); resolves when frames can be sent. */
  open(options: Readonly<Record<string, string>>): Promise<NetPort>;
}

/** One end of an Ethernet link: whole frames out to the peer(s), whole frames in from them. */
export interface NetPort {
  /** Send one Ethernet frame; frames sent while no peer is connected are dropped, as on a cable. */
  send(frame: Uint8Array): void;
  onReceive(listener: (frame: Uint8Array) => void): void;
  close(): Promise<void>;
}

export interface NetRegistrar {
  registerNetdev(backend: NetBackend): void;
}
