import { SerialStdio } from '../console/serial-stdio.ts';
import type { SerialConfig } from '../machine/config.ts';
import { FileSerial } from './file-serial.ts';
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
      case 'pty':
        // Refused by the parser; kept for the type's sake.
        throw new Error('pty is not available');
    }
  } catch (error) {
    throw new Error(`${origin}: ${(error as Error).message}`, { cause: error });
  }
}
