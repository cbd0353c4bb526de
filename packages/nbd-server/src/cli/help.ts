import type { ModuleList } from '@tessera/core';

export function versionText(list: ModuleList): string {
  return `${list.executable} version ${list.version} (configuration ${list.configuration})\n`;
}

/** `--help`: qemu-nbd's, for the options tessera-nbd has. */
export function helpText(list: ModuleList): string {
  const program = list.executable;
  return `Usage: ${program} [OPTIONS] FILE
Tessera Disk Network Block Device server (qemu-nbd compatible)

  -h, --help                display this help and exit
  -V, --version             output version information and exit
  --list-modules [--output=json]
                            list the modules of this executable and exit

Connection properties:
  -p, --port=PORT           port to listen on (default \`10809')
  -b, --bind=IFACE          interface to bind to (default \`0.0.0.0')
  -k, --socket=PATH         path to the unix socket
  -e, --shared=NUM          device can be shared by NUM clients (default '1')
  -t, --persistent          don't exit on the last connection
  -v, --verbose             accepted; nothing more is printed
  -x, --export-name=NAME    expose export by name (default is empty string)
  -D, --description=TEXT    export a human-readable description

Exposing part of the image:
  -A, --allocation-depth    expose the allocation depth
  -B, --bitmap=NAME         expose a persistent dirty bitmap (qcow2's)

General purpose options:
  --object tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off]
                            define TLS credentials (DIR holds ca-cert.pem,
                            server-cert.pem, server-key.pem)
  --tls-creds=ID            use id of an earlier --object to provide TLS
  --fork                    fork off the server process and exit the parent
                            once the server is running
  --pid-file=PATH           store the server's process ID in the given file

Block device options:
  -f, --format=FORMAT       set image format (raw, qcow2, ...)
  -r, --read-only           export read-only
  -n, --nocache             disable host cache
      --cache=MODE          set cache mode used to access the disk image, the
                            valid options are: 'none', 'writeback' (default),
                            'writethrough', 'directsync' and 'unsafe'
      --aio=MODE            set AIO mode (native, io_uring or threads): accepted, Node's I/O is used
      --discard=MODE        set discard mode (ignore, unmap)
      --detect-zeroes=MODE  set detect-zeroes mode (off, on, unmap)
      --image-opts          treat FILE as a full set of image options
`;
}
