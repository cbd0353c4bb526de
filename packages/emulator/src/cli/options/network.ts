/**
 * `-netdev user` / `-nic user` (QEMU's slirp) is refused: user-mode networking needs a TCP/IP
 * stack on the host side (the guest's TCP connections become host sockets), which tessera does
 * not have. Said at parse time, before anything starts.
 */
export function refuseUserNetworking(type: string): void {
  if (type !== 'user') return;
  throw new Error(
    "user-mode networking (QEMU's slirp) is not available in tessera: it needs a TCP/IP stack on the host side, which this emulator does not have; " +
      'link machines with -netdev socket,id=ID,listen=:PORT / connect=HOST:PORT, or use -nic none',
  );
}
