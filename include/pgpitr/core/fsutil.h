/*
 * fsutil.h - file system helpers with durable, atomic semantics.
 */
#ifndef PGPITR_CORE_FSUTIL_H
#define PGPITR_CORE_FSUTIL_H

#include <stddef.h>
#include <time.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

/*
 * Write data to path so that readers see the old file or the whole new one:
 * a temporary file beside path ("<path>.pitr-tmp.<pid>.<n>"), fsync, rename
 * over path, fsync of the directory. mode is the new file's mode (e.g.
 * 0600). On failure the temporary file is removed and path is untouched.
 */
PITR_MUST_CHECK pitr_rc pitr_fs_write_atomic(const char *path,
                                             const void *data,
                                             size_t len,
                                             int mode,
                                             struct pitr_err *err);

/* Append the whole file to out (bounded by out->limit). ENOENT -> PITR_ENOTFOUND. */
PITR_MUST_CHECK pitr_rc pitr_fs_read_file(const char *path,
                                          struct pitr_buf *out,
                                          struct pitr_err *err);

/* mkdir -p with mode for each created directory; existing ones are fine. */
PITR_MUST_CHECK pitr_rc pitr_fs_mkdir_p(const char *path, int mode, struct pitr_err *err);

/* fsync the directory at path. */
PITR_MUST_CHECK pitr_rc pitr_fs_fsync_dir(const char *path, struct pitr_err *err);

/*
 * A new temporary file name beside path ("<path>.pitr-tmp.<pid>.<n>"),
 * owned by the caller; listings skip such names.
 */
char *pitr_fs_temp_path(const char *path);

/* True when name is one of our temporary files (see pitr_fs_write_atomic). */
int pitr_fs_is_temp_name(const char *name);

/*
 * The length of the path a temporary name was made for (pitr_fs_temp_path's
 * argument), or 0 when name is not a temporary name.
 */
size_t pitr_fs_temp_base_len(const char *name);

/* A temporary file older than this is abandoned whatever wrote it. */
#define PITR_FS_TEMP_MAX_AGE (24 * 3600)

/*
 * True when temporary file name (last modified at mtime) was left by a
 * writer that is gone: one of this host whose process no longer exists, or
 * any older than PITR_FS_TEMP_MAX_AGE. Not a temp name: false.
 */
int pitr_fs_temp_is_stale(const char *name, time_t mtime, time_t now);

#endif
