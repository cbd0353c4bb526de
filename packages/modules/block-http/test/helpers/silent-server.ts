import { freePort } from '../../../../../tools/test-support/server-process.ts';
import { startSilentServer as startSilentTcpServer } from '../../../../../tools/test-support/silent-server.ts';

/** An HTTP URL on 127.0.0.1 whose server accepts connections and never says a word. */
export async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = await startSilentTcpServer();
  return { url: `http://127.0.0.1:${server.port}/disk.img`, close: () => server.close() };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPortUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/disk.img`;
}
