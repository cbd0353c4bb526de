import { SerialStdio } from '../console/serial-stdio.ts';
import type { SerialConfig } from '../machine/config.ts';
import { FileSerial } from './file-serial.ts';
import { PtySerial } from './pty-serial.ts';
import type { SerialCallbacks, SerialPort } from './serial-port.ts';
import { TcpSerial } from './tcp-serial.ts';

/** Where `-serial` said, opened before the guest runs; an error names the option (`-serial file:X: …`). */
export async function openSerial(config: SerialConfig, callbacks: SerialCallbacks): Promise<SerialPort | undefined> {
  const origin = config.kind === 'file' ? `-serial file:${config.path}` : config.kind === 'tcp' || config.kind === 'unix' ? config.origin : `-serial ${config.kind}`;
  try {
    switch (config.kind) {
      case 'none':
        return undefined;
      case 'stdio': {
        const stdio = new SerialStdio(callbacks);
        return { output: (byte) => stdio.output(byte), close: async () => stdio.close() };
      }
      case 'file':
        return new FileSerial(config.path);
      case 'tcp':
      case 'unix':
        return await TcpSerial.open(
          { ...config, onWaiting: (address) => process.stderr.write(`tessera: ${origin}: info: QEMU waiting for connection on: ${address}\n`) },
          callbacks,
        );
      case 'pty': {
        const pty = new PtySerial(callbacks);
        // QEMU's line, word for word and on stdout as QEMU prints it: programs that start QEMU read the terminal's name from it.
        process.stdout.write(`char device redirected to ${pty.path} (label serial0)\n`);
        return pty;
      }
    }
  } catch (error) {
    throw new Error(`${origin}: ${(error as Error).message}`, { cause: error });
  }
}
