/*
 * catalog.h - the backups of a server: backup.info read tolerantly, the
 * repository loaded, recovery target times, and the choice of a base backup.
 *
 * backup.info is read as barman reads it (key=value lines, '#' comments,
 * None for null, Python literals for tablespaces), but unknown keys are
 * ignored, so files written by newer barman versions load too.
 *
 * The choice follows CloudNativePG (cnpg-semantics.md §4.2): an explicit id
 * (or backup name) wins; with a time target the newest DONE backup whose
 * end_time <= target; with an LSN target the newest DONE backup whose
 * end_xlog < target; otherwise the newest DONE backup. With a numeric
 * target timeline only backups of that timeline qualify.
 */
#ifndef PGPITR_CATALOG_CATALOG_H
#define PGPITR_CATALOG_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

struct pitr_storage;

struct pitr_cat_tablespace {
    char *name; /* owned */
    uint32_t oid;
    char *location; /* owned */
};

/* One backup.info, parsed. Strings are owned (NULL when absent or None). */
struct pitr_cat_backup {
    char *id; /* the folder name under base/ (set by the caller) */
    char *backup_name;
    char *status;
    char *begin_wal;
    char *end_time; /* as written */
    char *end_xlog; /* as written */
    int has_end_time;
    int64_t end_time_us; /* end_time as microseconds since the epoch, UTC */
    int has_end_lsn;
    uint64_t end_lsn;
    int64_t timeline;                        /* -1: None */
    struct pitr_cat_tablespace *tablespaces; /* owned */
    size_t ntablespaces;
};

/* Parse backup.info text (len bytes) into *b, which is initialised first. */
PITR_MUST_CHECK pitr_rc pitr_cat_parse_info(const char *text,
                                            size_t len,
                                            struct pitr_cat_backup *b,
                                            struct pitr_err *err);
void pitr_cat_backup_release(struct pitr_cat_backup *b);

/*
 * Parse a timestamp: "YYYY-MM-DD HH:MM:SS[.ffffff][Z|±HH[[:]MM]]", with 'T'
 * or ' ' between date and time (RFC 3339 included). No zone means UTC.
 * *us: microseconds since the epoch (UTC). pg (optional, 64 bytes): the
 * same instant in UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]+00", for
 * recovery_target_time. Malformed: PITR_EUSAGE.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_parse_time(const char *s,
                                            int64_t *us,
                                            char *pg,
                                            struct pitr_err *err);

enum pitr_cat_target {
    PITR_CAT_TARGET_NONE = 0, /* latest; also xid, name, immediate */
    PITR_CAT_TARGET_TIME,
    PITR_CAT_TARGET_LSN,
};

struct pitr_cat_query {
    const char *id; /* backup id or name; NULL or "latest": choose */
    enum pitr_cat_target target;
    int64_t time_us;  /* PITR_CAT_TARGET_TIME */
    uint64_t lsn;     /* PITR_CAT_TARGET_LSN */
    int64_t timeline; /* -1: any (latest) */
};

/*
 * Choose a backup among v[0..n) (any order). *out points into v. Nothing
 * qualifies: PITR_EUSAGE with a message naming the earliest possible target
 * (no DONE backup at all, or an unknown id: PITR_ENOTFOUND).
 */
PITR_MUST_CHECK pitr_rc pitr_cat_select(const struct pitr_cat_backup *v,
                                        size_t n,
                                        const struct pitr_cat_query *q,
                                        const struct pitr_cat_backup **out,
                                        struct pitr_err *err);

/*
 * Load every backup of server: list "<server>/base/" (all pages), read each
 * "<id>/backup.info" and parse it. A backup.info that does not parse is
 * skipped with a warning; one that vanished between list and get is
 * skipped silently. *out (owned by the caller, release with
 * pitr_cat_list_release) holds *nout backups with id set, in listing order.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_load(struct pitr_storage *st,
                                      const char *server,
                                      struct pitr_cat_backup **out,
                                      size_t *nout,
                                      struct pitr_err *err);

/* Release v[0..n) and v itself. NULL is allowed. */
void pitr_cat_list_release(struct pitr_cat_backup *v, size_t n);

#endif
