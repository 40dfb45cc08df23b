/*
 * prefetch.h - wal-fetch with a prefetch spool.
 *
 * When PostgreSQL asks for segment X, the segments X+1 ... X+depth are
 * fetched ahead into a spool directory by a background worker (a detached
 * process with `jobs` threads), so that later calls are answered by a
 * rename while PostgreSQL replays. The spool holds:
 *
 *   <name>             a complete, checked segment (temp file, fsync, rename)
 *   <name>.missing     "not archived" seen at the file's mtime (negative cache)
 *   prefetch.lock      flock()ed by the worker for its whole life; holds its plan
 *   prefetch.stop      recovery ended: the worker stops and removes the spool
 *   *.pitr-tmp.*       a file being written (removed when its writer is gone)
 *
 * Only full segments are spooled. History files, .partial and .backup files
 * are always fetched from the archive and never cached, found or not; a
 * history file that is found drops every negative entry (a new timeline may
 * make other names appear). Names carry the timeline and archived objects
 * are never rewritten (wal-push refuses), so a spooled file stays what the
 * archive holds under its name. Before a spooled file is delivered its size
 * and page header (magic, segment size, page address of its name) are
 * checked again; a bad one is removed and the segment fetched directly.
 */
#ifndef PGPITR_ARCHIVE_PREFETCH_H
#define PGPITR_ARCHIVE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"
#include "pgpitr/storage/storage.h"

struct pitr_config;

#define PITR_PREFETCH_DIR      "pgpitr_prefetch" /* under pg_wal/ */
#define PITR_PREFETCH_MAX      64                /* deepest look-ahead */
#define PITR_PREFETCH_MISS_TTL 5                 /* seconds a "not found" is trusted */
#define PITR_PREFETCH_WAIT_MS  30000 /* longest wait for a segment the worker is fetching */
#define PITR_PREFETCH_CLEAN_MS 10000 /* longest wait of the cleaner for the worker */

struct pitr_prefetch_opts {
    const struct pitr_config *cfg; /* borrowed; the worker opens its storage from it */
    const char *server;            /* borrowed */
    const char *spool;             /* borrowed; the spool directory */
    const char *pgdata; /* borrowed; the data directory the spool serves, or NULL (explicit) */
    int depth;          /* segments fetched ahead, 1..PITR_PREFETCH_MAX */
    int jobs;           /* worker threads, >= 1 */
    int miss_ttl;       /* seconds a cached "not found" holds */
    int wait_ms;        /* longest wait for a segment the worker is fetching */
    int detach;         /* 1: the worker is a detached process; 0: it runs inside the call */
};

enum pitr_fetch_source {
    PITR_FETCH_ARCHIVE, /* fetched from the archive by this call */
    PITR_FETCH_SPOOL,   /* renamed from the spool */
};

/*
 * Fetch WAL file name into dest like pitr_wal_fetch(), answering from the
 * spool when it can and starting the worker when fewer than half of the
 * next depth segments are spooled. st serves the direct fetches of this
 * call. A cached "not found" younger than miss_ttl answers PITR_ENOTFOUND
 * without asking the archive. *src says where the file came from.
 */
PITR_MUST_CHECK pitr_rc pitr_wal_fetch_prefetch(struct pitr_storage *st,
                                                const struct pitr_prefetch_opts *o,
                                                const char *name,
                                                const char *dest,
                                                enum pitr_fetch_source *src,
                                                struct pitr_err *err);

/*
 * The restore's overlap: fetch the count segments from first (inclusive,
 * segments of seg_size bytes; at most PITR_PREFETCH_MAX) into o->spool on
 * o->jobs threads of this process while the caller restores the data
 * files, so that recovery starts with its WAL spooled. Each segment goes
 * through the worker's own path: every stored copy fetched, decoded and
 * checked as the segment its name names (pitr_archive_fetch_load), written
 * by temp file and rename; a bad copy is never spooled, and the first
 * segment not archived ends it. It holds the spool's lock for its whole
 * life. o->pgdata must be NULL (no recovery signal exists yet); o and its
 * strings are borrowed until pitr_prefetch_overlap_finish. Returns NULL,
 * after an info line saying why, when it does not start (the restore goes
 * on without it).
 */
struct pitr_prefetch_overlap;
struct pitr_prefetch_overlap *pitr_prefetch_overlap_start(const struct pitr_prefetch_opts *o,
                                                          const char *first,
                                                          uint32_t seg_size,
                                                          int count);

/* True while the overlap still has segments to fetch (NULL: false). */
int pitr_prefetch_overlap_busy(struct pitr_prefetch_overlap *ov);

/*
 * Stop the overlap: no segment is started after this, those being fetched
 * are finished; then remove from the spool every entry the overlap did not
 * spool itself (the lock file stays), so a later wal-fetch finds only
 * segments fetched and checked here, release the lock and free ov (NULL is
 * fine). Returns the number of segments left spooled.
 */
size_t pitr_prefetch_overlap_finish(struct pitr_prefetch_overlap *ov);

/*
 * The spool for a restore_command destination: "<dir>/pgpitr_prefetch"
 * when dest's directory is a data directory's pg_wal (named pg_wal, with
 * archive_status/ beside dest and PG_VERSION in its parent). Returns NULL
 * otherwise. Both strings are heap strings owned by the caller; *pgdata
 * receives the data directory.
 */
char *pitr_prefetch_spool_for(const char *dest, char **pgdata);

/*
 * End of recovery: stop the worker and remove the spool. Asks the worker
 * to stop, waits up to wait_ms for it; when it is still running, empties
 * the spool and leaves the rest to the worker, which removes the spool as
 * it stops. A missing spool is fine. Only files the spool makes are
 * removed (segment names, their ".missing" entries, temp files, the lock
 * and stop files); a directory that is not a spool (no prefetch.lock, not
 * empty) is refused with PITR_EUSAGE and left untouched.
 */
PITR_MUST_CHECK pitr_rc pitr_prefetch_clean(const char *spool, int wait_ms, struct pitr_err *err);

#endif
