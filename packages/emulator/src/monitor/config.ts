/** Monitors the command line asks for: QMP (`mode=control`) and the human monitor (`readline`). */

/** Where a monitor talks: a listening socket (one client at a time, as QEMU) or the terminal. */
export type MonitorEndpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'stdio' }
  /** Shares stdio with the serial console (`-serial mon:stdio`); Ctrl-a c switches. */
  | { readonly kind: 'mux-stdio' };

export interface MonitorConfig {
  readonly mode: 'control' | 'readline';
  /** The chardev label `query-chardev` reports (`compat_monitor0` or the -chardev id). */
  readonly label: string;
  readonly endpoint: MonitorEndpoint;
  /** The option that made it, for error messages. */
  readonly origin: string;
}
