/*
 * walrecv.h - the streaming WAL archiver (pgpitr wal-receive).
 *
 * A physical replication client that keeps every byte it acknowledges:
 * received WAL goes to a local spool file "<segment>.partial" (zero-padded
 * to the segment size, fsync'd); a finished segment is renamed and stored
 * through wal-push's code (pitr_wal_push: the same key, compression and
 * never-overwrite rule as archive_command); the segment in progress is
 * stored as "wals/<hash>/<segment>.partial<suffix>" every partial interval,
 * at shutdown and at a timeline switch, and that object is removed once
 * the full segment is stored.
 *
 * The flush position reported to the server (and so the slot's
 * restart_lsn) is what is durable: fsync'd in the spool by default, stored
 * in the object store with synchronous set.
 */
#ifndef PGPITR_WALRECV_WALRECV_H
#define PGPITR_WALRECV_WALRECV_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/err.h"

struct pitr_config;

#define PITR_WALRECV_SLOT_DEFAULT     "pgpitr"
#define PITR_WALRECV_APPNAME_DEFAULT  "pgpitr"
#define PITR_WALRECV_SPOOL_ROOT       "/var/lib/pgpitr/wal-receive"
#define PITR_WALRECV_PARTIAL_INTERVAL 10                          /* seconds */
#define PITR_WALRECV_SYNC_INTERVAL_MS 200                         /* milliseconds */
#define PITR_WALRECV_SYNC_BYTES       ((uint64_t)2 * 1024 * 1024) /* bytes */
#define PITR_WALRECV_STATUS_INTERVAL  10 /* seconds between status updates */

struct pitr_walrecv_opts {
    const char *conninfo;         /* borrowed; NULL: PG* variables */
    const char *application_name; /* borrowed */
    const char *slot;             /* borrowed; checked with pitr_repl_check_slot_name */
    const char *spool_dir;        /* borrowed; created when missing */
    const char *server;           /* borrowed; the repository's server name */
    int create_slot;              /* create the slot when the server lacks it */
    int synchronous;              /* flush = stored in the object store */
    int partial_interval;         /* seconds, >= 1 */
    int sync_interval_ms;         /* >= 1: longest wait before durable work */
    uint64_t sync_bytes;          /* >= 8 KiB: pending bytes that force it */
    enum pitr_codec codec;
    int level;
    int max_attempts;            /* 0: retry forever; else give up after that many */
    volatile sig_atomic_t *stop; /* borrowed; set (by a signal handler) to stop */
};

/*
 * Run until *stop is set (then store the partial segment and return
 * PITR_OK) or a fatal error: a gap in the stream (PITR_EFORMAT), a
 * conflicting archived file (PITR_ECONFLICT), another cluster's WAL in the
 * spool, a spool that cannot be written (PITR_EIO). Connection and object
 * store failures are retried with a bounded exponential back-off.
 */
PITR_MUST_CHECK pitr_rc pitr_walrecv_run(const struct pitr_config *cfg,
                                         const struct pitr_walrecv_opts *o,
                                         struct pitr_err *err);

/* Where a spool says streaming resumes (see pitr_walrecv_spool_recover). */
struct pitr_walrecv_resume {
    int found;     /* 0: no .partial in the spool */
    char name[25]; /* the segment */
    uint32_t tli;
    uint64_t lsn;  /* resume here: the start of the last valid page */
    size_t others; /* further .partial files left alone (older ones) */
};

/*
 * Look for the newest "<segment>.partial" in dir and make it trustworthy:
 * cut it to the last whole page of the valid prefix (a page is valid when
 * its header has the first page's magic, its own address and a sane
 * timeline; the first page must be a long header announcing seg_size),
 * zero the rest, re-pad it to seg_size and fsync it. Streaming resumes at
 * the start of the last valid page (it may have been incomplete), or at the
 * segment's start when no page is valid. Symlinks and non-regular files
 * are refused (PITR_EIO).
 */
PITR_MUST_CHECK pitr_rc pitr_walrecv_spool_recover(const char *dir,
                                                   uint32_t seg_size,
                                                   struct pitr_walrecv_resume *out,
                                                   struct pitr_err *err);

/*
 * The segment size the newest "<segment>.partial" in dir announces in its
 * first page (*seg_size 0 when there is no such file or its first page is
 * not a valid long header).
 */
PITR_MUST_CHECK pitr_rc pitr_walrecv_spool_seg_size(const char *dir,
                                                    uint32_t *seg_size,
                                                    struct pitr_err *err);

#endif
