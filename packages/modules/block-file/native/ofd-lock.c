// Open file description (OFD) byte-range locks for Node, which has no fcntl: the two calls QEMU's
// file driver makes for image locking; and lseek(SEEK_DATA/SEEK_HOLE), which Node lacks too, for
// finding a sparse file's holes; several writes in one thread-pool job, where Node's fs.write
// makes one job of each; and a raw pseudo-terminal for the emulator's `-serial pty`, which Node
// cannot open either. Node-API only, so one build serves every Node version.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *call, int error) {
  napi_value code, message, exception;
  napi_create_string_utf8(env, strerror(error), NAPI_AUTO_LENGTH, &message);
  napi_create_int32(env, error, &code);
  napi_create_error(env, NULL, message, &exception);
  napi_set_named_property(env, exception, "errno", code);
  napi_value syscall;
  napi_create_string_utf8(env, call, NAPI_AUTO_LENGTH, &syscall);
  napi_set_named_property(env, exception, "syscall", syscall);
  napi_throw(env, exception);
  return NULL;
}

/** Reads (fd, byte) as integers; false with an exception pending when they are not. */
static int fd_and_byte(napi_env env, napi_callback_info info, size_t want, napi_value *args, int32_t *fd, int64_t *byte) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < want ||
      napi_get_value_int32(env, args[0], fd) != napi_ok || napi_get_value_int64(env, args[1], byte) != napi_ok || *byte < 0) {
    napi_throw_type_error(env, NULL, "expected (fd, byte)");
    return 0;
  }
  return 1;
}

/** lock(fd, byte, shared): take a shared lock on one byte (shared true) or release it (false). */
static napi_value lock(napi_env env, napi_callback_info info) {
  napi_value args[3];
  int32_t fd;
  int64_t byte;
  bool shared;
  if (!fd_and_byte(env, info, 3, args, &fd, &byte)) return NULL;
  if (napi_get_value_bool(env, args[2], &shared) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a boolean");
    return NULL;
  }
  struct flock fl = { .l_type = shared ? F_RDLCK : F_UNLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
  if (fcntl(fd, F_OFD_SETLK, &fl) == -1) return throw_errno(env, "fcntl(F_OFD_SETLK)", errno);
  return NULL;
}

/** conflicts(fd, byte): whether another open file description holds a lock on the byte (as QEMU tests, with a write lock). */
static napi_value conflicts(napi_env env, napi_callback_info info) {
  napi_value args[2], result;
  int32_t fd;
  int64_t byte;
  if (!fd_and_byte(env, info, 2, args, &fd, &byte)) return NULL;
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
  if (fcntl(fd, F_OFD_GETLK, &fl) == -1) return throw_errno(env, "fcntl(F_OFD_GETLK)", errno);
  napi_get_boolean(env, fl.l_type != F_UNLCK, &result);
  return result;
}

/** seek(fd, offset, whence): lseek with SEEK_DATA or SEEK_HOLE only; -1 for ENXIO (none at or past offset). */
static napi_value seek(napi_env env, napi_callback_info info) {
  napi_value args[3], result;
  int32_t fd, whence;
  int64_t offset;
  if (!fd_and_byte(env, info, 3, args, &fd, &offset)) return NULL;
  if (napi_get_value_int32(env, args[2], &whence) != napi_ok || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
    napi_throw_type_error(env, NULL, "expected SEEK_DATA (3) or SEEK_HOLE (4)");
    return NULL;
  }
  off_t at = lseek(fd, (off_t)offset, whence);
  if (at == -1 && errno != ENXIO) return throw_errno(env, "lseek", errno);
  napi_create_int64(env, at == -1 ? -1 : (int64_t)at, &result);
  return result;
}

/**
 * Reads readCached's arguments (fd, view, offset, length, position): the typed array's bytes
 * [offset, offset + length) and a file position; false with an exception pending when invalid.
 */
static int io_args(napi_env env, napi_callback_info info, int32_t *fd, struct iovec *iov, int64_t *position) {
  napi_value args[5];
  size_t argc = 5;
  napi_typedarray_type type;
  size_t elements, byte_offset;
  void *data;
  napi_value buffer;
  int64_t offset, length;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 5 || napi_get_value_int32(env, args[0], fd) != napi_ok ||
      napi_get_typedarray_info(env, args[1], &type, &elements, &data, &buffer, &byte_offset) != napi_ok || type != napi_uint8_array ||
      napi_get_value_int64(env, args[2], &offset) != napi_ok || napi_get_value_int64(env, args[3], &length) != napi_ok ||
      napi_get_value_int64(env, args[4], position) != napi_ok || offset < 0 || length < 0 || *position < 0 || (uint64_t)(offset + length) > elements) {
    napi_throw_type_error(env, NULL, "expected (fd, Uint8Array, offset, length, position) within the array");
    return 0;
  }
  iov->iov_base = (char *)data + offset;
  iov->iov_len = (size_t)length;
  return 1;
}

/**
 * readCached(fd, view, offset, length, position): preadv2 with RWF_NOWAIT, a read served from the
 * page cache without waiting for the disk. Returns the bytes read (fewer when only a part is
 * cached), or -1 when none is cached (EAGAIN): the caller then reads through the thread pool. A
 * cached read costs a copy; through the pool it also costs two thread hand-offs (~30 us).
 */
static napi_value read_cached(napi_env env, napi_callback_info info) {
  int32_t fd;
  struct iovec iov;
  int64_t position;
  napi_value result;
  if (!io_args(env, info, &fd, &iov, &position)) return NULL;
  ssize_t got;
  do got = preadv2(fd, &iov, 1, (off_t)position, RWF_NOWAIT);
  while (got == -1 && errno == EINTR);
  if (got == -1 && errno != EAGAIN) return throw_errno(env, "preadv2", errno);
  napi_create_int64(env, got, &result);
  return result;
}

/**
 * openPty(): a new pseudo-terminal in raw mode, as QEMU's `-serial pty` makes it. Returns
 * { master, masterWrite, slave, path }: the master for reading and a duplicate of it for writing
 * (Node takes a terminal descriptor for reading or for writing, not both), and one descriptor of
 * the slave that the emulator keeps open so the master never reads EIO while no program has the
 * terminal open.
 */
static napi_value open_pty(napi_env env, napi_callback_info info) {
  (void)info;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master == -1) return throw_errno(env, "posix_openpt", errno);
  char path[128];
  if (grantpt(master) == -1 || unlockpt(master) == -1 || ptsname_r(master, path, sizeof path) != 0) {
    int error = errno;
    close(master);
    return throw_errno(env, "ptsname", error);
  }
  int slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  struct termios tio;
  if (slave == -1 || tcgetattr(slave, &tio) == -1) {
    int error = errno;
    if (slave != -1) close(slave);
    close(master);
    return throw_errno(env, "open pty", error);
  }
  cfmakeraw(&tio);
  int master_write = -1;
  if (tcsetattr(slave, TCSAFLUSH, &tio) == -1 || (master_write = fcntl(master, F_DUPFD_CLOEXEC, 0)) == -1) {
    int error = errno;
    close(slave);
    close(master);
    return throw_errno(env, "tcsetattr", error);
  }
  napi_value result, value;
  napi_create_object(env, &result);
  napi_create_int32(env, master, &value);
  napi_set_named_property(env, result, "master", value);
  napi_create_int32(env, master_write, &value);
  napi_set_named_property(env, result, "masterWrite", value);
  napi_create_int32(env, slave, &value);
  napi_set_named_property(env, result, "slave", value);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, result, "path", value);
  return result;
}


/**
 * writeBatch(fd, views, positions): pwrite each view at its position, one after the other, in a
 * single thread-pool job; a promise of each write's errno (0: written whole). Every write is
 * tried, whatever the others gave. Through fs.write each write costs two thread hand-offs.
 */
typedef struct {
  char *data;
  size_t length;
  int64_t position;
  int error;
} batch_write;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref views; /* keeps the views' buffers alive while the job runs */
  int fd;
  uint32_t count;
  batch_write writes[];
} write_batch;

static void batch_execute(napi_env env, void *data) {
  (void)env;
  write_batch *batch = data;
  for (uint32_t i = 0; i < batch->count; i++) {
    batch_write *w = &batch->writes[i];
    size_t done = 0;
    while (done < w->length) {
      ssize_t n = pwrite(batch->fd, w->data + done, w->length - done, (off_t)(w->position + (int64_t)done));
      if (n > 0) done += (size_t)n;
      else if (n == -1 && errno == EINTR) continue;
      else {
        w->error = n == 0 ? EIO : errno;
        break;
      }
    }
  }
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  write_batch *batch = data;
  napi_value result, value;
  napi_create_array_with_length(env, batch->count, &result);
  for (uint32_t i = 0; i < batch->count; i++) {
    napi_create_int32(env, status == napi_ok ? batch->writes[i].error : ECANCELED, &value);
    napi_set_element(env, result, i, value);
  }
  napi_resolve_deferred(env, batch->deferred, result);
  napi_delete_reference(env, batch->views);
  napi_delete_async_work(env, batch->work);
  free(batch);
}

#define MAX_BATCH 4096

static napi_value write_batch_start(napi_env env, napi_callback_info info) {
  napi_value args[3], promise, name;
  size_t argc = 3;
  int32_t fd;
  uint32_t count, positions_count;
  bool views_array, positions_array;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 3 || napi_get_value_int32(env, args[0], &fd) != napi_ok ||
      napi_is_array(env, args[1], &views_array) != napi_ok || !views_array || napi_is_array(env, args[2], &positions_array) != napi_ok ||
      !positions_array || napi_get_array_length(env, args[1], &count) != napi_ok || napi_get_array_length(env, args[2], &positions_count) != napi_ok ||
      positions_count != count || count == 0 || count > MAX_BATCH) {
    napi_throw_type_error(env, NULL, "expected (fd, Uint8Array[], number[]) of equal lengths, 1 to 4096 writes");
    return NULL;
  }
  write_batch *batch = calloc(1, sizeof(write_batch) + count * sizeof(batch_write));
  if (!batch) return throw_errno(env, "writeBatch", ENOMEM);
  batch->fd = fd;
  batch->count = count;
  for (uint32_t i = 0; i < count; i++) {
    napi_value view, position, arraybuffer;
    napi_typedarray_type type;
    size_t length, byte_offset;
    void *bytes;
    if (napi_get_element(env, args[1], i, &view) != napi_ok ||
        napi_get_typedarray_info(env, view, &type, &length, &bytes, &arraybuffer, &byte_offset) != napi_ok || type != napi_uint8_array ||
        napi_get_element(env, args[2], i, &position) != napi_ok || napi_get_value_int64(env, position, &batch->writes[i].position) != napi_ok ||
        batch->writes[i].position < 0 || (uint64_t)batch->writes[i].position > (uint64_t)INT64_MAX - length) {
      free(batch);
      napi_throw_type_error(env, NULL, "expected Uint8Array views and positions from 0");
      return NULL;
    }
    batch->writes[i].data = bytes;
    batch->writes[i].length = length;
  }
  napi_create_reference(env, args[1], 1, &batch->views);
  napi_create_promise(env, &batch->deferred, &promise);
  napi_create_string_utf8(env, "tessera.writeBatch", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, batch_execute, batch_complete, batch, &batch->work);
  napi_queue_async_work(env, batch->work);
  return promise;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor functions[] = {
    { "lock", NULL, lock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "conflicts", NULL, conflicts, NULL, NULL, NULL, napi_enumerable, NULL },
    { "seek", NULL, seek, NULL, NULL, NULL, napi_enumerable, NULL },
    { "openPty", NULL, open_pty, NULL, NULL, NULL, napi_enumerable, NULL },
    { "readCached", NULL, read_cached, NULL, NULL, NULL, napi_enumerable, NULL },
    { "writeBatch", NULL, write_batch_start, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, 6, functions);
  return exports;
}
