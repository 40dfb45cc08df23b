/*
 * archive.h - WAL archiving: push one file into the repository, fetch one
 * back. The key layout is barman-cloud's:
 *   <server>/wals/<TTTTTTTTLLLLLLLL>/<segment>[<suffix>]
 *   <server>/wals/<TTTTTTTT>.history[<suffix>]
 */
#ifndef PGPITR_ARCHIVE_ARCHIVE_H
#define PGPITR_ARCHIVE_ARCHIVE_H

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/err.h"
#include "pgpitr/storage/storage.h"

/* WAL segments are at most 1 GiB; nothing we archive is larger. */
#define PITR_WAL_MAX_FILE ((size_t)1024 * 1024 * 1024)

struct pitr_push_opts {
    const char *server; /* borrowed */
    enum pitr_codec codec;
    int level;   /* 0: the codec's fast default */
    int threads; /* compression threads for one file (gzip); <= 1: one */
};

enum pitr_push_outcome {
    PITR_PUSH_STORED,    /* a new object was written */
    PITR_PUSH_IDENTICAL, /* the same bytes were already archived */
    PITR_PUSH_SPOOLED,   /* an earlier look-ahead push stored these bytes */
};

/*
 * Archive the WAL file at path (as archive_command's %p). Returns PITR_OK
 * only when the object is durably stored or an object with identical
 * content already exists (*outcome says which). An existing object with
 * different content is never overwritten: PITR_ECONFLICT. A name that is
 * not a WAL file name: PITR_EUSAGE. A segment whose size disagrees with its
 * page header: PITR_EFORMAT.
 */
PITR_MUST_CHECK pitr_rc pitr_wal_push(struct pitr_storage *st,
                                      const struct pitr_push_opts *o,
                                      const char *path,
                                      enum pitr_push_outcome *outcome,
                                      struct pitr_err *err);

/*
 * Fetch WAL file name (as restore_command's %f) into dest (%p), atomically.
 * Finds the object whatever compression suffix it has and prefers a full
 * segment over a .partial one. Not archived: PITR_ENOTFOUND.
 */
PITR_MUST_CHECK pitr_rc pitr_wal_fetch(struct pitr_storage *st,
                                       const char *server,
                                       const char *name,
                                       const char *dest,
                                       struct pitr_err *err);

/*
 * The key prefix under which every stored variant of WAL file name lives
 * ("<server>/wals/<hash>/<name>"); heap string owned by the caller.
 */
char *pitr_wal_key_stem(const char *server, const char *name, struct pitr_err *err);

/*
 * Look-ahead archiving. When path sits in a pg_wal directory (it has an
 * archive_status/ folder), the next look_ahead segments marked .ready are
 * pushed too, on up to 2 x jobs threads in parallel with path itself. Each one
 * stored is recorded in a spool folder (pg_wal/pgpitr_spool/) as
 * "<name>.ok" holding the file's identity (device, inode, size, mtime and
 * ctime in nanoseconds); when PostgreSQL later asks for that segment, a
 * marker that still matches lets wal-push return at once. A marker is only
 * written after the object is durably stored, and only trusted while the
 * file is provably unchanged (PostgreSQL never rewrites a .ready segment).
 */
struct pitr_config;

struct pitr_push_batch_opts {
    struct pitr_push_opts push;
    int look_ahead; /* how many further .ready segments; 0 disables */
    int jobs;       /* >= 1; a batch runs on up to 2 x jobs threads */
};

/*
 * Push path (and its look-ahead segments). Storage handles are opened from
 * cfg, one per worker. Returns the result for path alone: failures of
 * look-ahead segments are logged at DEBUG and left for PostgreSQL to retry.
 */
PITR_MUST_CHECK pitr_rc pitr_wal_push_batch(const struct pitr_config *cfg,
                                            const struct pitr_push_batch_opts *o,
                                            const char *path,
                                            enum pitr_push_outcome *outcome,
                                            struct pitr_err *err);

#endif
