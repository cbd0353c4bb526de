// The NBD servers of the tests (qemu-nbd, nbdkit, a server that hangs): the shared start, wait and stop.
export { freePort, startServer, type RunningServer } from '../../../../../tools/test-support/server-process.ts';
export { startSilentServer } from '../../../../../tools/test-support/silent-server.ts';
