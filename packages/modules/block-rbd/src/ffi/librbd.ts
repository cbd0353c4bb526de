// The librados and librbd calls this module uses, bound once per process from the system's own
// libraries (librbd.so.1 and librados.so.2, Debian's librbd1 and librados2), as QEMU links them.
// Only these calls are bound; the newer ones are looked up one by one and a missing symbol
// disables that capability (the block layer then falls back), so any librbd since Luminous works.
import { rbdError } from '../errors.ts';
import { koffi } from './koffi-addon.ts';
import type { KoffiFunction, KoffiLibrary } from './koffi-types.ts';

/** A pointer librados hands out (cluster, ioctx, image handles): opaque to JavaScript. */
export type Handle = unknown;

export interface Librbd {
  // librados: a cluster session and an I/O context on a pool.
  readonly rados_create2: KoffiFunction;
  readonly rados_conf_read_file: KoffiFunction;
  readonly rados_conf_set: KoffiFunction;
  readonly rados_conf_get: KoffiFunction;
  readonly rados_connect: KoffiFunction;
  readonly rados_shutdown: KoffiFunction;
  readonly rados_ioctx_create: KoffiFunction;
  readonly rados_ioctx_destroy: KoffiFunction;
  readonly rados_ioctx_set_namespace?: KoffiFunction;
  // librbd: images.
  readonly rbd_create: KoffiFunction;
  readonly rbd_open: KoffiFunction;
  readonly rbd_open_read_only: KoffiFunction;
  readonly rbd_close: KoffiFunction;
  readonly rbd_stat: KoffiFunction;
  readonly rbd_get_size: KoffiFunction;
  readonly rbd_read: KoffiFunction;
  readonly rbd_write: KoffiFunction;
  readonly rbd_flush: KoffiFunction;
  readonly rbd_resize: KoffiFunction;
  readonly rbd_discard: KoffiFunction;
  readonly rbd_snap_create: KoffiFunction;
  readonly rbd_snap_list: KoffiFunction;
  readonly rbd_snap_list_end: KoffiFunction;
  readonly rbd_snap_remove: KoffiFunction;
  readonly rbd_snap_rollback: KoffiFunction;
  // Newer calls, each optional.
  /** Since Octopus (15): zeroes without sending data. */
  readonly rbd_write_zeroes?: KoffiFunction;
  /** Since Jewel (10): allocation (with fast-diff, from the object map without reading objects). */
  readonly rbd_diff_iterate2?: KoffiFunction;
  readonly rbd_get_features?: KoffiFunction;
  readonly rbd_get_flags?: KoffiFunction;
  /** The librbd version, for messages. */
  readonly version: string;
  /** koffi's struct of rbd_snap_info_t {uint64 id; uint64 size; const char *name}. */
  readonly snapInfoType: unknown;
  readonly snapInfoSize: number;
  /** koffi's struct of rbd_image_info_t (size, obj_size, …). */
  readonly imageInfoType: unknown;
  readonly imageInfoSize: number;
}

let bound: Librbd | undefined;

export function librbd(): Librbd {
  return (bound ??= bind());
}

function openLibrary(name: string): KoffiLibrary {
  try {
    return koffi().load(name);
  } catch (error) {
    // Debian and Ubuntu split Ceph's client libraries so: librbd1 pulls in librados2.
    throw rbdError(
      `rbd: cannot load ${name} (${(error as Error).message.split('\n')[0]}): Ceph's client library is missing or unusable; on Debian or Ubuntu install the package librbd1 (apt-get install librbd1)`,
      'rbd-library-missing',
      error,
    );
  }
}

function bind(): Librbd {
  const k = koffi();
  const rados = openLibrary('librados.so.2');
  const rbd = openLibrary('librbd.so.1');
  const required = (lib: KoffiLibrary, prototype: string): KoffiFunction => {
    try {
      return lib.func(prototype);
    } catch (error) {
      throw rbdError(`rbd: the installed Ceph client library has no ${prototype.replace(/\(.*/, '').split(' ').pop()} (${(error as Error).message}); upgrade librbd1`, 'rbd-library-missing', error);
    }
  };
  const optional = (lib: KoffiLibrary, prototype: string): KoffiFunction | undefined => {
    try {
      return lib.func(prototype);
    } catch {
      return undefined; // an older library: the capability is off
    }
  };
  const snapInfoType = k.struct('tessera_rbd_snap_info_t', { id: 'uint64_t', size: 'uint64_t', name: 'const char *' });
  const imageInfoType = k.struct('tessera_rbd_image_info_t', {
    size: 'uint64_t',
    obj_size: 'uint64_t',
    num_objs: 'uint64_t',
    order: 'int',
    block_name_prefix: 'char[24]',
    parent_pool: 'int64_t',
    parent_name: 'char[96]',
  });
  k.proto('int tessera_rbd_diff_cb(uint64_t offset, size_t length, int exists, void *arg)');
  const versionOf = required(rbd, 'void rbd_version(_Out_ int *major, _Out_ int *minor, _Out_ int *extra)');
  const v: number[][] = [[0], [0], [0]];
  versionOf(v[0], v[1], v[2]);
  return {
    rados_create2: required(rados, 'int rados_create2(_Out_ void **cluster, const char *clustername, const char *name, uint64_t flags)'),
    rados_conf_read_file: required(rados, 'int rados_conf_read_file(void *cluster, const char *path)'),
    rados_conf_set: required(rados, 'int rados_conf_set(void *cluster, const char *option, const char *value)'),
    rados_conf_get: required(rados, 'int rados_conf_get(void *cluster, const char *option, _Out_ uint8_t *buf, size_t len)'),
    rados_connect: required(rados, 'int rados_connect(void *cluster)'),
    rados_shutdown: required(rados, 'void rados_shutdown(void *cluster)'),
    rados_ioctx_create: required(rados, 'int rados_ioctx_create(void *cluster, const char *pool, _Out_ void **ioctx)'),
    rados_ioctx_destroy: required(rados, 'void rados_ioctx_destroy(void *ioctx)'),
    rados_ioctx_set_namespace: optional(rados, 'void rados_ioctx_set_namespace(void *ioctx, const char *nspace)'),
    rbd_create: required(rbd, 'int rbd_create(void *ioctx, const char *name, uint64_t size, _Inout_ int *order)'),
    rbd_open: required(rbd, 'int rbd_open(void *ioctx, const char *name, _Out_ void **image, const char *snap_name)'),
    rbd_open_read_only: required(rbd, 'int rbd_open_read_only(void *ioctx, const char *name, _Out_ void **image, const char *snap_name)'),
    rbd_close: required(rbd, 'int rbd_close(void *image)'),
    rbd_stat: required(rbd, 'int rbd_stat(void *image, _Out_ tessera_rbd_image_info_t *info, size_t infosize)'),
    rbd_get_size: required(rbd, 'int rbd_get_size(void *image, _Out_ uint64_t *size)'),
    rbd_read: required(rbd, 'int64_t rbd_read(void *image, uint64_t offset, size_t length, _Out_ uint8_t *buf)'),
    rbd_write: required(rbd, 'int64_t rbd_write(void *image, uint64_t offset, size_t length, const uint8_t *buf)'),
    rbd_flush: required(rbd, 'int rbd_flush(void *image)'),
    rbd_resize: required(rbd, 'int rbd_resize(void *image, uint64_t size)'),
    rbd_discard: required(rbd, 'int rbd_discard(void *image, uint64_t offset, uint64_t length)'),
    rbd_snap_create: required(rbd, 'int rbd_snap_create(void *image, const char *name)'),
    rbd_snap_list: required(rbd, 'int rbd_snap_list(void *image, _Out_ uint8_t *snaps, _Inout_ int *max_snaps)'),
    rbd_snap_list_end: required(rbd, 'void rbd_snap_list_end(uint8_t *snaps)'),
    rbd_snap_remove: required(rbd, 'int rbd_snap_remove(void *image, const char *name)'),
    rbd_snap_rollback: required(rbd, 'int rbd_snap_rollback(void *image, const char *name)'),
    rbd_write_zeroes: optional(rbd, 'int rbd_write_zeroes(void *image, uint64_t offset, uint64_t length, int zero_flags, int op_flags)'),
    rbd_diff_iterate2: optional(
      rbd,
      'int rbd_diff_iterate2(void *image, const char *fromsnapname, uint64_t offset, uint64_t length, uint8_t include_parent, uint8_t whole_object, tessera_rbd_diff_cb *cb, void *arg)',
    ),
    rbd_get_features: optional(rbd, 'int rbd_get_features(void *image, _Out_ uint64_t *features)'),
    rbd_get_flags: optional(rbd, 'int rbd_get_flags(void *image, _Out_ uint64_t *flags)'),
    version: `${v[0]![0]}.${v[1]![0]}.${v[2]![0]}`,
    snapInfoType,
    snapInfoSize: k.sizeof(snapInfoType),
    imageInfoType,
    imageInfoSize: k.sizeof(imageInfoType),
  };
}

/** Run a bound call on a worker thread (librbd blocks on the network): the event loop goes on meanwhile. */
export function callAsync(fn: KoffiFunction, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (error: unknown, result: unknown) => (error ? reject(error) : resolve(Number(result))));
  });
}
