import { MachineActions } from './actions.ts';
import type { MonitorConfig } from './config.ts';
import type { MonitorContext } from './context.ts';
import { EventHub } from './events.ts';
import { HmpConsole } from './hmp-console.ts';
import type { ChardevInfo, MachineControl, ShutdownReason } from './machine-control.ts';
import { QmpSession } from './qmp-session.ts';
import { SerialMonitorMux } from './serial-mux.ts';
import { SocketListener, type MonitorConnection } from './socket-listener.ts';

export interface RunningMonitors {
  readonly actions: MachineActions;
  /** For `-serial mon:stdio`: routes the terminal between COM1 and the monitor. */
  readonly mux: SerialMonitorMux | undefined;
  /** Send SHUTDOWN (unless `reason` is undefined: it was sent when asked for), answer what is pending, close every monitor. */
  shutdown(reason: ShutdownReason | undefined): Promise<void>;
}

/** What the serial port is, for `query-chardev`. */
export interface SerialDescription {
  readonly filename: string | undefined;
}

/**
 * Start every monitor the command line asked for. A socket that cannot be bound is an error
 * naming the option (the machine does not start).
 */
export async function startMonitors(configs: readonly MonitorConfig[], machine: MachineControl, serial: SerialDescription): Promise<RunningMonitors> {
  const events = new EventHub();
  const actions = new MachineActions(machine, events);
  const listeners = new Map<MonitorConfig, SocketListener>();
  const context: MonitorContext = {
    actions,
    chardevs: () => {
      const list: ChardevInfo[] = [];
      if (serial.filename !== undefined) list.push({ label: 'serial0', filename: serial.filename, frontendOpen: true });
      for (const config of configs) {
        const listener = listeners.get(config);
        const filename = listener ? listener.filename : config.endpoint.kind === 'mux-stdio' ? 'mux' : 'stdio';
        list.push({ label: config.label, filename, frontendOpen: true });
      }
      return list;
    },
  };
  const consoles: HmpConsole[] = [];
  let mux: SerialMonitorMux | undefined;
  let stdinUser: (() => void) | undefined;

  const serve = (config: MonitorConfig, connection: MonitorConnection, echo = true): (() => void) => {
    if (config.mode === 'control') {
      const session = new QmpSession(context, events, (text) => connection.write(text));
      connection.onData((data) => session.input(data.toString('utf8')));
      return () => session.close();
    }
    const hmp = new HmpConsole(context, (text) => connection.write(text), echo);
    consoles.push(hmp);
    connection.onData((data) => hmp.input(data));
    hmp.greet();
    return () => consoles.splice(consoles.indexOf(hmp), 1);
  };

  try {
    for (const config of configs) {
      const endpoint = config.endpoint;
      if (endpoint.kind === 'unix' || endpoint.kind === 'tcp') {
        try {
          listeners.set(config, await SocketListener.listen(endpoint, (connection) => serve(config, connection)));
        } catch (error) {
          throw new Error(`${config.origin}: ${(error as Error).message}`, { cause: error });
        }
      } else if (endpoint.kind === 'mux-stdio') {
        const hmp = new HmpConsole(context, (text) => process.stdout.write(text));
        consoles.push(hmp);
        mux = new SerialMonitorMux(hmp);
      } else {
        // On a terminal the line is edited and echoed by the terminal itself (Ctrl-c still ends tessera).
        stdinUser = startStdio((connection) => serve(config, connection, process.stdin.isTTY !== true));
      }
    }
  } catch (error) {
    await Promise.all([...listeners.values()].map((l) => l.close()));
    stdinUser?.();
    throw error;
  }

  return {
    actions,
    mux,
    shutdown: async (reason) => {
      if (reason !== undefined) actions.emitShutdown(reason);
      await Promise.all(consoles.map((c) => c.idle()));
      stdinUser?.();
      await Promise.all([...listeners.values()].map((l) => l.close()));
    },
  };
}

/** A monitor alone on the terminal (`-monitor stdio`, `-qmp stdio`), line by line. */
function startStdio(serve: (connection: MonitorConnection) => () => void): () => void {
  const listeners: ((data: Buffer) => void)[] = [];
  const onData = (data: Buffer) => listeners.forEach((l) => l(data));
  process.stdin.on('data', onData);
  process.stdin.resume();
  const stop = serve({ write: (text) => process.stdout.write(text), onData: (l) => listeners.push(l) });
  return () => {
    stop();
    process.stdin.off('data', onData);
    process.stdin.pause();
    process.stdin.unref?.();
  };
}
