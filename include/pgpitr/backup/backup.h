/*
 * backup.h - one online base backup in barman-cloud's layout (local mode).
 *
 * The sequence follows barman-cloud-backup (§4.1 of the format reference):
 * server facts; backup_id (local time, refused if it exists); the
 * non-exclusive backup start on one libpq session; each tablespace to
 * <oid>.tar<sfx>, then PGDATA to data.tar<sfx> with global/pg_control last
 * and configuration files that live outside PGDATA under their basename;
 * the backup stop; on a primary a WAL switch and the restore point
 * barman_<id>; backup_label into data.tar; then, unlike barman, a wait
 * until the end WAL segment is in <server>/wals/ (so DONE means
 * restorable); our manifest pgpitr.manifest.json; backup.info written last
 * with status DONE. Any failure after the backup_id is chosen aborts the
 * open volume and writes backup.info with status FAILED (when storage
 * still works); DONE is never written for a failed backup.
 *
 * From a standby: PostgreSQL allows the non-exclusive backup there; WAL
 * switch and restore point are skipped (they fail on a standby), and the
 * wait for the end segment is the same: the segment must reach this
 * repository, from the primary's archive_command or the standby's own with
 * archive_mode = always.
 *
 * PGDATA is read directly (local mode): it must be the running server's
 * data directory, which is checked through global/pg_control's system
 * identifier.
 */
#ifndef PGPITR_BACKUP_BACKUP_H
#define PGPITR_BACKUP_BACKUP_H

#include <signal.h>
#include <stdint.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"

#define PITR_BACKUP_DEFAULT_MAX_ARCHIVE ((uint64_t)100 << 30) /* barman's 100GB */
#define PITR_BACKUP_DEFAULT_WAL_WAIT    300

enum pitr_backup_method {
    PITR_BACKUP_AUTO,   /* local when PGDATA's global/pg_control is readable here, else stream */
    PITR_BACKUP_LOCAL,  /* read PGDATA here, between pg_backup_start and pg_backup_stop */
    PITR_BACKUP_STREAM, /* BASE_BACKUP over a replication connection */
};

struct pitr_backup_opts {
    const struct pitr_config *cfg; /* borrowed: repo, server, compression, S3 settings */
    enum pitr_backup_method method;
    const char *pgdata;   /* local: NULL means $PGDATA, else data_directory */
    const char *conninfo; /* NULL: the PG* environment variables */
    int immediate_checkpoint;
    int jobs;                      /* compressor threads, >= 1 */
    uint64_t max_archive_size;     /* volume size limit (bytes) */
    const char *name;              /* backup_name, or NULL */
    int wal_wait_timeout;          /* seconds to wait for the end segment in the archive */
    int progress;                  /* print a progress line to stderr */
    volatile sig_atomic_t *cancel; /* optional: set by a signal handler */
};

struct pitr_backup_result {
    char backup_id[16];    /* "" when none was chosen */
    char status[8];        /* "DONE", "FAILED", or "" when no backup.info was written */
    char begin_wal[25];    /* "" when unknown */
    char end_wal[25];      /* "" when unknown */
    uint64_t bytes;        /* file contents read */
    uint64_t stored_bytes; /* bytes stored in tar volumes */
    unsigned volumes;
    double seconds;
};

/*
 * Take the backup. PITR_OK only when backup.info says DONE. *res is filled
 * as far as the backup got, also on failure.
 */
PITR_MUST_CHECK pitr_rc pitr_backup_run(const struct pitr_backup_opts *o,
                                        struct pitr_backup_result *res,
                                        struct pitr_err *err);

#endif
