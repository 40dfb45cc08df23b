/*
 * spool.h - private to archive/: the prefetch spool directory's entries
 * (see pgpitr/archive/prefetch.h for its layout). Every function takes the
 * spool's path; names are WAL segment names. Nothing here fetches.
 */
#ifndef PGPITR_ARCHIVE_SPOOL_H
#define PGPITR_ARCHIVE_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pgpitr/core/err.h"
#include "pgpitr/wal/wal.h"

#define SPOOL_LOCK "prefetch.lock"
#define SPOOL_STOP "prefetch.stop"

/*
 * Deliver spooled segment name (parsed as w) to dest by rename, fsyncing
 * both directories. *hit is 0 when the spool has no such file or it failed
 * pitr_wal_check_segment (it is then removed and a warning logged). Fails only when a
 * good file cannot be moved.
 */
PITR_MUST_CHECK pitr_rc spool_take(const char *spool,
                                   const char *name,
                                   const struct pitr_wal_name *w,
                                   const char *dest,
                                   uint32_t *seg_size,
                                   int *hit,
                                   struct pitr_err *err);

/* True when spool holds a (not yet checked) file for name. */
int spool_has(const char *spool, const char *name);

/*
 * How many segment files of timeline tli (whole ones, not temp files or
 * negative entries) spool holds.
 */
int spool_count_segments(const char *spool, uint32_t tli);

/* Record that name is not archived (now); failures are only logged. */
void spool_miss_record(const char *spool, const char *name);

/* True when a "not found" for name younger than ttl seconds is recorded. */
int spool_miss_fresh(const char *spool, const char *name, int ttl, time_t now);

/* Remove every negative entry. */
void spool_drop_misses(const char *spool);

/*
 * Housekeeping before answering asked: remove segments and negative
 * entries that come before asked (any timeline), expired negative entries,
 * and temporary files whose writer is gone (all of them when owner is set:
 * the caller holds the lock, so no worker writes).
 */
void spool_sweep(const char *spool,
                 const struct pitr_wal_name *asked,
                 int owner,
                 int ttl,
                 time_t now);

/*
 * Remove the spool's own entries (segments, negative entries, temp files,
 * lock and stop file) and the directory; anything else stays, with a
 * warning, and so does the directory then.
 */
void spool_remove_all(const char *spool);

/* Remove the spool's own entries but the lock and stop files. */
void spool_empty(const char *spool);

/*
 * True when spool looks like a prefetch spool: its lock file (which every
 * call using it creates first) is a regular file, or it is empty.
 */
int spool_is_ours(const char *spool);

/* Open (create) the spool's lock file: a descriptor, or -1. */
int spool_lock_open(const char *spool);

/* Take the lock without waiting: 1 when taken, 0 when another holds it. */
int spool_lock_try(int fd);

/* True when the stop file exists. */
int spool_stop_requested(const char *spool);

#endif
