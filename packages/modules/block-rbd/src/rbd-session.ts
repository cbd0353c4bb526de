import { EACCES, ENOENT, EPERM, errnoText, rbdError } from './errors.ts';
import { callAsync, librbd, type Handle } from './ffi/librbd.ts';
import type { RbdLocation } from './rbd-location.ts';

/** A connected cluster and an I/O context on the image's pool (and namespace). */
export interface RbdSession {
  readonly cluster: Handle;
  readonly ioctx: Handle;
  /** Disconnect (after the image, if any, was closed). */
  end(): Promise<void>;
}

// librados's own deadlines are 300 s to reach a monitor and none at all for a request: qemu-img
// then waits five minutes (or for ever) on a cluster that is gone. Unless the configuration sets
// them, connecting gets 10 s and each monitor or OSD request 30 s, as curl's and the other
// protocol modules' deadlines; a user's ceph.conf or a `:key=value` of the filename overrides.
const DEFAULT_DEADLINES: readonly (readonly [option: string, librados: number, ours: string])[] = [
  ['client_mount_timeout', 300, '10'],
  ['rados_mon_op_timeout', 0, '30'],
  ['rados_osd_op_timeout', 0, '30'],
];

export async function connect(location: RbdLocation): Promise<RbdSession> {
  const lib = librbd();
  const fail = (why: string, code: Parameters<typeof rbdError>[1] = 'rbd-connect'): never => {
    throw rbdError(`${location.failurePrefix}${why}`, code);
  };
  const out: Handle[] = [null];
  const created = lib.rados_create2(out, 'ceph', `client.${location.user ?? 'admin'}`, 0) as number;
  if (created < 0) fail(`error initializing: ${errnoText(created)}`);
  const cluster = out[0];
  let ioctx: Handle;
  try {
    if (location.conf !== undefined) {
      const read = lib.rados_conf_read_file(cluster, location.conf) as number;
      if (read < 0) fail(`error reading conf file ${location.conf}: ${errnoText(read)}`, 'invalid-option');
    } else {
      lib.rados_conf_read_file(cluster, null); // the default places; none there is no error (qemu alike)
    }
    for (const [option, libradosDefault, ours] of DEFAULT_DEADLINES) {
      if (Number(confGet(cluster, option)) === libradosDefault) lib.rados_conf_set(cluster, option, ours);
    }
    for (const [key, value] of location.settings) {
      const set = lib.rados_conf_set(cluster, key, value) as number;
      if (set < 0) fail(`invalid conf option ${key}: ${errnoText(set)}`, 'invalid-option');
    }
    const connected = await callAsync(lib.rados_connect, cluster);
    if (connected < 0) fail(`error connecting: ${errnoText(connected)}`, connected === EACCES || connected === EPERM ? 'rbd-auth' : 'rbd-connect');
    const io: Handle[] = [null];
    const opened = await callAsync(lib.rados_ioctx_create, cluster, location.pool, io);
    if (opened < 0) fail(`error opening pool ${location.pool}: ${errnoText(opened)}`, opened === ENOENT ? 'rbd-no-pool' : 'rbd-connect');
    ioctx = io[0];
    if (location.namespace !== '') {
      if (!lib.rados_ioctx_set_namespace) fail('this librados has no namespaces (rados_ioctx_set_namespace): upgrade librados2', 'unsupported-operation');
      lib.rados_ioctx_set_namespace!(ioctx, location.namespace);
    }
  } catch (error) {
    await shutdown(cluster);
    throw error;
  }
  return {
    cluster,
    ioctx,
    async end() {
      lib.rados_ioctx_destroy(ioctx);
      await shutdown(cluster);
    },
  };
}

function confGet(cluster: Handle, option: string): string {
  const buffer = Buffer.alloc(64);
  if ((librbd().rados_conf_get(cluster, option, buffer, buffer.length) as number) < 0) return '';
  return buffer.subarray(0, buffer.indexOf(0)).toString();
}

async function shutdown(cluster: Handle): Promise<void> {
  // On a worker thread: librados joins its messenger threads, which can take a moment.
  const lib = librbd();
  await new Promise<void>((resolve) => lib.rados_shutdown.async(cluster, () => resolve()));
}

