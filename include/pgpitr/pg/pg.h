/*
 * pg.h - what a base backup asks of a running PostgreSQL server (libpq).
 *
 * One struct pitr_pg is one libpq session. The non-exclusive backup API is
 * bound to the session that started it: keep the same struct pitr_pg open
 * from pitr_pg_backup_start() to pitr_pg_backup_stop(); closing it (or the
 * process dying) makes the server abort the backup.
 *
 * Every failure the server reports comes back as PITR_EPG with the first
 * line of libpq's message; nothing here logs or exits.
 */
#ifndef PGPITR_PG_PG_H
#define PGPITR_PG_PG_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

struct pitr_pg;

/*
 * Connect. conninfo may be NULL (the standard PG* environment variables
 * alone), a "key=value" string or a postgresql:// URI; a bare word is taken
 * as the database name. Without a database in either, "postgres" is used
 * (as barman does). On success *out is a new session the caller frees with
 * pitr_pg_free().
 */
PITR_MUST_CHECK pitr_rc pitr_pg_connect(const char *conninfo,
                                        struct pitr_pg **out,
                                        struct pitr_err *err);
/*
 * The same, as a physical replication connection (replication=true added to
 * the settings): it accepts replication commands such as BASE_BACKUP, not
 * SQL. The role needs the REPLICATION attribute and a pg_hba.conf line for
 * "replication".
 */
PITR_MUST_CHECK pitr_rc pitr_pg_connect_replication(const char *conninfo,
                                                    struct pitr_pg **out,
                                                    struct pitr_err *err);
/* Close the session (aborting a backup still in progress). NULL is fine. */
void pitr_pg_free(struct pitr_pg *pg);

struct pitr_pg_tablespace {
    char *name; /* owned */
    uint32_t oid;
    char *location; /* owned; pg_tablespace_location() */
};

struct pitr_pg_info {
    int version;                            /* server_version_num, e.g. 150020 */
    char *systemid;                         /* owned; decimal system identifier */
    char *data_directory;                   /* owned */
    char *config_file;                      /* owned; NULL when the role may not see it */
    char *hba_file;                         /* owned; idem */
    char *ident_file;                       /* owned; idem */
    uint32_t seg_size;                      /* wal_segment_size in bytes */
    int in_recovery;                        /* pg_is_in_recovery(): a standby */
    struct pitr_pg_tablespace *tablespaces; /* owned array of ntablespaces */
    size_t ntablespaces;
};

/* What the role must be allowed to do; checked first by pitr_pg_get_info(). */
enum pitr_pg_need {
    PITR_PG_NEED_NOTHING,     /* no check (the caller checks later with pitr_pg_check_role) */
    PITR_PG_NEED_BACKUP_API,  /* local mode: execute pg_backup_start/stop */
    PITR_PG_NEED_REPLICATION, /* stream mode: REPLICATION attribute (or superuser) */
};

/*
 * Read the server facts a backup needs (§4.1 steps 1-2 of the barman-cloud
 * reference), after checking the role has what `need` says (a permission
 * failure names the role). Fills *info, which the caller releases. Servers
 * older than 9.6 are refused (PITR_EPG).
 */
PITR_MUST_CHECK pitr_rc pitr_pg_get_info(struct pitr_pg *pg,
                                         enum pitr_pg_need need,
                                         struct pitr_pg_info *info,
                                         struct pitr_err *err);
void pitr_pg_info_release(struct pitr_pg_info *info);

/* A server timestamp: now() as epoch seconds + microseconds, and its UTC offset. */
struct pitr_pg_time {
    int64_t sec;
    int usec;
    int utc_offset; /* seconds east of UTC, of the session's TimeZone */
};

/*
 * Python's str() of a tz-aware datetime, as backup.info stores dates:
 * "YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM" (no fraction when it is zero).
 */
void pitr_pg_format_time(const struct pitr_pg_time *t, char out[64]);

/* The check pitr_pg_get_info() does first, on its own (need != NOTHING). */
PITR_MUST_CHECK pitr_rc pitr_pg_check_role(struct pitr_pg *pg,
                                           enum pitr_pg_need need,
                                           int version,
                                           struct pitr_err *err);

/* now() on the server, as the backup start and stop calls report it. */
PITR_MUST_CHECK pitr_rc pitr_pg_now(struct pitr_pg *pg,
                                    struct pitr_pg_time *out,
                                    struct pitr_err *err);

/*
 * pg_last_xact_replay_timestamp(): the commit time of the last transaction
 * recovery replayed (kept after promotion until the server restarts), as
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ" in out; "" when recovery replayed none.
 */
PITR_MUST_CHECK pitr_rc pitr_pg_last_replay_time(struct pitr_pg *pg,
                                                 char out[40],
                                                 struct pitr_err *err);

struct pitr_pg_start {
    uint64_t lsn;
    uint32_t timeline;
    struct pitr_pg_time time;
};

struct pitr_pg_stop {
    uint64_t lsn;
    uint32_t timeline;
    char *label; /* owned; the backup_label contents */
    struct pitr_pg_time time;
};

/*
 * Start a non-exclusive backup: pg_backup_start(label, fast) on 15+,
 * pg_start_backup(label, fast, false) before.
 */
PITR_MUST_CHECK pitr_rc pitr_pg_backup_start(struct pitr_pg *pg,
                                             int version,
                                             const char *label,
                                             int fast,
                                             struct pitr_pg_start *out,
                                             struct pitr_err *err);
/*
 * Stop it: pg_backup_stop(wait) on 15+, pg_stop_backup(false, wait) before.
 * Fills *out (release with pitr_pg_stop_release()).
 */
PITR_MUST_CHECK pitr_rc pitr_pg_backup_stop(struct pitr_pg *pg,
                                            int version,
                                            int wait_for_archive,
                                            struct pitr_pg_stop *out,
                                            struct pitr_err *err);
void pitr_pg_stop_release(struct pitr_pg_stop *s);

/* pg_switch_wal() (pg_switch_xlog() before 10). Fails on a standby. */
PITR_MUST_CHECK pitr_rc pitr_pg_switch_wal(struct pitr_pg *pg, int version, struct pitr_err *err);
/* pg_create_restore_point(name). Fails on a standby. */
PITR_MUST_CHECK pitr_rc pitr_pg_restore_point(struct pitr_pg *pg,
                                              const char *name,
                                              struct pitr_err *err);

/* ---- LSNs and WAL file names (no I/O) ---------------------------------- */

/* Parse "X/X" (hex). A malformed LSN fails with PITR_EFORMAT. */
PITR_MUST_CHECK pitr_rc pitr_pg_parse_lsn(const char *s, uint64_t *out, struct pitr_err *err);
/* Format as PostgreSQL does: "%X/%X". */
void pitr_pg_format_lsn(uint64_t lsn, char out[20]);
/*
 * The WAL segment holding lsn on timeline tli, as barman computes it
 * (lsn / seg_size, so an LSN exactly on a boundary names the next segment),
 * and the offset of lsn within it.
 */
void pitr_pg_lsn_walfile(uint32_t tli, uint64_t lsn, uint32_t seg_size, char out[25]);
uint64_t pitr_pg_lsn_offset(uint64_t lsn, uint32_t seg_size);

#endif
