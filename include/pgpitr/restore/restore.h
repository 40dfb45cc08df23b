/*
 * restore.h - restore a base backup into a new PGDATA and prepare recovery.
 *
 * Sequence: read every <server>/base/<id>/backup.info (catalog.h), choose a
 * backup, refuse a non-empty PGDATA (or tablespace location), download each
 * tar volume through the storage reader and extract it with libarchive
 * (any compression filter), volumes on opts->jobs threads, each with its own
 * storage handle; link pg_tblspc/<oid> to each tablespace's location; create
 * pg_wal/archive_status; check every file against pgpitr.manifest.json when
 * the backup has one (barman-cloud backups do not); append the recovery
 * settings to postgresql.auto.conf and create recovery.signal (or
 * standby.signal).
 */
#ifndef PGPITR_RESTORE_RESTORE_H
#define PGPITR_RESTORE_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

struct pitr_config;

/* A tablespace relocation: --tablespace OID:DIR. */
struct pitr_restore_remap {
    uint32_t oid;
    const char *dir; /* borrowed */
};

struct pitr_restore_opts {
    const struct pitr_config *cfg; /* borrowed; repo, server and S3 settings */
    const char *backup_id;         /* id, name, "latest" or NULL */
    const char *pgdata;            /* borrowed */
    /* At most one target; all NULL / 0: recover to the end of the archive. */
    const char *target_time; /* as given */
    const char *target_xid;
    const char *target_lsn;
    const char *target_name;
    int target_immediate;
    const char *target_tli;    /* "latest", a number, or NULL */
    const char *target_action; /* promote, pause, shutdown or NULL */
    int exclusive;
    int standby;
    const struct pitr_restore_remap *remaps; /* borrowed */
    size_t nremaps;
    int jobs;
    int progress; /* show a progress line on stderr (core/progress.h) while extracting */
    /*
     * The restore_command to write (owned by the caller), or NULL to write no
     * recovery settings and no signal file, as barman-cloud-restore.
     */
    const char *restore_command;
    /* The recovery_end_command to write, or NULL (owned by the caller). */
    const char *recovery_end_command;
};

struct pitr_restore_result {
    char backup_id[64];
    char end_time[64];
    char target[192]; /* human readable */
    size_t volumes;
    size_t files_checked; /* 0 when there was no manifest */
    size_t wal_ahead;     /* WAL segments spooled for recovery while restoring */
};

PITR_MUST_CHECK pitr_rc pitr_restore_run(const struct pitr_restore_opts *o,
                                         struct pitr_restore_result *res,
                                         struct pitr_err *err);

/* Append s to a postgresql.conf value quoted with '' (quotes doubled). */
char *pitr_restore_conf_quote(const char *s);

/*
 * Copy the postgresql.auto.conf text[0..len) to out (appended, bounded by
 * out's limit) with every recovery setting (restore_command and any
 * recovery_target* key, names case-insensitive) commented out, so the
 * settings the restore appends next are the only ones. A backup of a server
 * that was itself restored carries that restore's settings, and PostgreSQL
 * refuses to start with two recovery targets. *ndisabled: lines commented.
 */
PITR_MUST_CHECK pitr_rc pitr_restore_disable_recovery(const char *text,
                                                      size_t len,
                                                      struct pitr_buf *out,
                                                      size_t *ndisabled,
                                                      struct pitr_err *err);

#endif
