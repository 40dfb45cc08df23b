/*
 * walahead_int.h - private to restore/: fetch the WAL that recovery will
 * ask for first into wal-fetch's prefetch spool (PGDATA/pg_wal/
 * pgpitr_prefetch) while the data files are restored, through the
 * prefetch worker's own checked path (pitr_prefetch_overlap_start).
 */
#ifndef PGPITR_RESTORE_WALAHEAD_INT_H
#define PGPITR_RESTORE_WALAHEAD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/archive/prefetch.h"
#include "pgpitr/catalog/catalog.h"
#include "pgpitr/restore/restore.h"

/*
 * How many segments to fetch ahead, from begin_wal on: the segments up to
 * the last one the target needs when that is known (end_wal for an
 * immediate target, the segment of target_lsn when not 0), else
 * PITR_PREFETCH_MAX; never more than PITR_PREFETCH_MAX, and never more
 * than a quarter of the disk that stays free once the data files are
 * restored (avail minus four times restore_bytes, the compressed size of
 * the volumes: a rough guess of their restored size). 0: none (a name
 * that does not parse, an invalid segment size, no room).
 */
int pitr_restore_wal_ahead_count(const char *begin_wal,
                                 const char *end_wal,
                                 uint32_t seg_size,
                                 int immediate,
                                 uint64_t target_lsn,
                                 uint64_t avail,
                                 uint64_t restore_bytes);

struct pitr_restore_wal_ahead {
    char *spool; /* owned; the staging folder the overlap fills */
    char *final; /* owned; PGDATA/pg_wal/pgpitr_prefetch, where wal-fetch looks */
    struct pitr_prefetch_opts po;
    struct pitr_prefetch_overlap *ov; /* NULL: not running */
};

/*
 * Start fetching ahead for backup b restored into o->pgdata (which exists
 * and is empty): only when the restore writes pgpitr's own restore_command
 * and prefetch is on. Failing to start is logged and not an error. wa is
 * zeroed first; o and b are borrowed until pitr_restore_wal_ahead_finish.
 */
void pitr_restore_wal_ahead_start(struct pitr_restore_wal_ahead *wa,
                                  const struct pitr_restore_opts *o,
                                  const struct pitr_cat_backup *b,
                                  uint64_t target_lsn,
                                  uint64_t restore_bytes);

/*
 * Make the staging folder stage (n segments in it) the spool final by
 * rename, unless something is at final already (it came with the backup:
 * the staging folder is then removed, nothing mixed). Returns the
 * segments published (0 when dropped).
 */
size_t pitr_restore_wal_ahead_publish(const char *stage, const char *final, size_t n);

/*
 * Stop it (see pitr_prefetch_overlap_finish), publish the staging folder
 * (pitr_restore_wal_ahead_publish) and release wa; returns the segments
 * left for recovery.
 */
size_t pitr_restore_wal_ahead_finish(struct pitr_restore_wal_ahead *wa);

#endif
