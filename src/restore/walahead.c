/*
 * walahead.c - the restore's WAL overlap; see walahead_int.h.
 *
 * The spool it fills is the one wal-fetch uses when PostgreSQL runs it
 * with a destination in this PGDATA's pg_wal, so the first restore_command
 * calls are answered by a rename. What a later wal-fetch trusts is what it
 * trusts of its own worker's spool: segments fetched and checked by
 * pitr_archive_fetch_load, whose header and size spool_take checks again
 * before delivery; anything else found in the spool when the overlap ends
 * (a backup's tar could carry pg_wal/pgpitr_prefetch/ entries) is removed.
 */
#include "walahead_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/wal.h"

/* Remove a staging folder the overlap made (its own entries only; see pitr_prefetch_clean). */
static void spool_dir_remove(const char *stage)
{
    struct pitr_err err = { 0 };

    if (pitr_prefetch_clean(stage, 0, &err) != PITR_OK)
        pitr_log_warn("restore: %s", err.msg);
}

/* The segment number of w counted from the start of the WAL. */
static uint64_t segno(const struct pitr_wal_name *w, uint32_t seg_size)
{
    return (uint64_t)w->log * (0x100000000ULL / seg_size) + w->seg;
}

int pitr_restore_wal_ahead_count(const char *begin_wal,
                                 const char *end_wal,
                                 uint32_t seg_size,
                                 int immediate,
                                 uint64_t target_lsn,
                                 uint64_t avail,
                                 uint64_t restore_bytes)
{
    struct pitr_wal_name b, e;
    uint64_t count = PITR_PREFETCH_MAX, last, room;

    if (begin_wal == NULL || pitr_wal_parse_name(begin_wal, &b, NULL) != PITR_OK ||
        b.kind != PITR_WAL_SEGMENT || seg_size < (1u << 20) || seg_size > PITR_WAL_SEG_MAX ||
        (seg_size & (seg_size - 1)) != 0)
        return 0;
    if (immediate && end_wal != NULL && pitr_wal_parse_name(end_wal, &e, NULL) == PITR_OK &&
        e.kind == PITR_WAL_SEGMENT) {
        last = segno(&e, seg_size);
        count = last >= segno(&b, seg_size) ? last - segno(&b, seg_size) + 1 : 1;
    } else if (target_lsn != 0) {
        last = target_lsn / seg_size;
        count = last >= segno(&b, seg_size) ? last - segno(&b, seg_size) + 1 : 1;
    }
    if (count > PITR_PREFETCH_MAX)
        count = PITR_PREFETCH_MAX;
    /* restore_bytes * 4 cannot overflow in practice; clamp anyway. */
    if (restore_bytes > UINT64_MAX / 8)
        return 0;
    room = avail > restore_bytes * 4 ? (avail - restore_bytes * 4) / 4 / seg_size : 0;
    if (count > room)
        count = room;
    return (int)count;
}

void pitr_restore_wal_ahead_start(struct pitr_restore_wal_ahead *wa,
                                  const struct pitr_restore_opts *o,
                                  const struct pitr_cat_backup *b,
                                  uint64_t target_lsn,
                                  uint64_t restore_bytes)
{
    struct statvfs vfs;
    uint64_t avail = 0;
    int count;

    memset(wa, 0, sizeof(*wa));
    /* Another restore_command (--no-recovery-conf) would never read the spool. */
    if (o->restore_command == NULL || o->cfg->prefetch <= 0)
        return;
    if (statvfs(o->pgdata, &vfs) == 0)
        avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    count = pitr_restore_wal_ahead_count(b->begin_wal,
                                         b->end_wal,
                                         b->xlog_segment_size,
                                         o->target_immediate,
                                         target_lsn,
                                         avail,
                                         restore_bytes);
    if (count <= 0) {
        pitr_log_info("restore: no WAL fetched ahead of recovery (first WAL '%s', %ju MiB free "
                      "in '%s')",
                      b->begin_wal ? b->begin_wal : "None",
                      (uintmax_t)(avail >> 20),
                      o->pgdata);
        return;
    }
    {
        unsigned char rnd[8];
        char hex[17];

        /*
         * A staging folder no backup's tar can name: the volumes are being
         * extracted beside it. pitr_restore_wal_ahead_finish renames it to
         * the spool wal-fetch reads once they are all in.
         */
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
            pitr_log_info("restore: no WAL fetched ahead of recovery: no random bytes: %s",
                          strerror(errno));
            return;
        }
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
        wa->spool = pitr_asprintf("%s/pg_wal/" PITR_PREFETCH_DIR ".%s", o->pgdata, hex);
        wa->final = pitr_asprintf("%s/pg_wal/" PITR_PREFETCH_DIR, o->pgdata);
    }
    wa->po.cfg = o->cfg;
    wa->po.server = o->cfg->server;
    wa->po.spool = wa->spool;
    wa->po.pgdata = NULL; /* recovery.signal comes last: the overlap must not wait for it */
    wa->po.depth = o->cfg->prefetch;
    wa->po.jobs = o->jobs > 0 ? o->jobs : 1;
    wa->po.miss_ttl = PITR_PREFETCH_MISS_TTL;
    wa->po.wait_ms = PITR_PREFETCH_WAIT_MS;
    wa->po.detach = 0;
    wa->ov = pitr_prefetch_overlap_start(&wa->po, b->begin_wal, b->xlog_segment_size, count);
}

size_t pitr_restore_wal_ahead_publish(const char *stage, const char *final, size_t n)
{
    struct stat sb;

    /*
     * Anything at the spool's name now came from the backup: never trusted.
     * A spool (or an empty folder) there is removed as the cleaner would;
     * anything else stays, and the WAL fetched ahead is dropped.
     */
    if (lstat(final, &sb) == 0) {
        pitr_log_warn("restore: '%s' came with the backup; removing it", final);
        spool_dir_remove(final);
        if (lstat(final, &sb) == 0) {
            pitr_log_warn("restore: '%s' is still there; the WAL fetched ahead is dropped", final);
            spool_dir_remove(stage);
            return 0;
        }
    }
    if (rename(stage, final) != 0) {
        pitr_log_warn("restore: cannot rename '%s' to '%s': %s; the WAL fetched ahead is dropped",
                      stage,
                      final,
                      strerror(errno));
        spool_dir_remove(stage);
        return 0;
    }
    return n;
}

size_t pitr_restore_wal_ahead_finish(struct pitr_restore_wal_ahead *wa)
{
    size_t n = pitr_prefetch_overlap_finish(wa->ov);

    if (wa->ov != NULL)
        n = pitr_restore_wal_ahead_publish(wa->spool, wa->final, n);
    wa->ov = NULL;
    pitr_free(wa->spool);
    pitr_free(wa->final);
    wa->spool = wa->final = NULL;
    return n;
}
