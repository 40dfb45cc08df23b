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

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

struct pitr_storage;

struct pitr_cat_tablespace {
    char *name; /* owned */
    uint32_t oid;
    char *location; /* owned */
};

/* One key=value line of backup.info as written (value "None" kept as is). */
struct pitr_cat_field {
    char *key;   /* owned */
    char *value; /* owned */
};

/* A backup's keep annotation (<server>/base/<id>/annotations/keep). */
enum pitr_cat_keep {
    PITR_CAT_KEEP_NONE = 0,
    PITR_CAT_KEEP_FULL,       /* body "full", or any other non-empty body (as barman) */
    PITR_CAT_KEEP_STANDALONE, /* body "standalone" */
};

/* One backup.info, parsed. Strings are owned (NULL when absent or None). */
struct pitr_cat_backup {
    char *id; /* the folder name under base/ (set by the caller) */
    char *backup_name;
    char *status;
    char *begin_wal;
    char *end_wal;
    char *begin_time; /* as written */
    char *begin_xlog; /* as written */
    char *end_time;   /* as written */
    char *end_xlog;   /* as written */
    int has_begin_time;
    int64_t begin_time_us; /* begin_time as microseconds since the epoch, UTC */
    int has_end_time;
    int64_t end_time_us; /* end_time as microseconds since the epoch, UTC */
    int has_end_lsn;
    uint64_t end_lsn;
    int64_t timeline;                        /* -1: None */
    uint32_t xlog_segment_size;              /* 16 MiB when absent or None */
    struct pitr_cat_tablespace *tablespaces; /* owned */
    size_t ntablespaces;
    struct pitr_cat_field *fields; /* owned; every key=value line, in file order */
    size_t nfields;
    enum pitr_cat_keep keep; /* set by pitr_cat_load */
};

/* The value of key as written in backup.info, or NULL when the file has no such line. */
const char *pitr_cat_field(const struct pitr_cat_backup *b, const char *key);

/*
 * The one reader of Python str literals (barman writes repr() into
 * backup.info; pitr_py_repr_str writes ours): the literal at *p ('...' or
 * "...", escapes \\ \' \" \n \r \t \xHH \uHHHH \UHHHHHHHH, the last three
 * code points as Python 3 reads them) is appended to out as UTF-8, a
 * surrogate-escaped byte (U+DC80..U+DCFF) as that byte; *p moves past the
 * closing quote. Anything else: PITR_EFORMAT.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_py_str(const char **p, struct pitr_buf *out, struct pitr_err *err);

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
 * "<id>/backup.info" and parse it, and read the keep annotation of those
 * the listing shows one for. A backup.info that does not parse is
 * skipped with a warning; one that vanished between list and get is
 * skipped silently. *out (owned by the caller, release with
 * pitr_cat_list_release) holds *nout backups with id set, sorted by id.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_load(struct pitr_storage *st,
                                      const char *server,
                                      struct pitr_cat_backup **out,
                                      size_t *nout,
                                      struct pitr_err *err);

/*
 * Read "<server>/base/<id>/annotations/keep" directly (no cache, as barman
 * does before deleting); a missing annotation is PITR_CAT_KEEP_NONE.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_read_keep(struct pitr_storage *st,
                                           const char *server,
                                           const char *id,
                                           enum pitr_cat_keep *keep,
                                           struct pitr_err *err);

/* The keep target a keep annotation's body stands for (barman reads its first line). */
enum pitr_cat_keep pitr_cat_keep_from_body(const char *body, size_t len);
/* "full", "standalone" or "nokeep". */
const char *pitr_cat_keep_name(enum pitr_cat_keep k);

/* pitr_cat_load that also counts the backup.info files it skipped as unreadable. */
PITR_MUST_CHECK pitr_rc pitr_cat_load_ex(struct pitr_storage *st,
                                         const char *server,
                                         struct pitr_cat_backup **out,
                                         size_t *nout,
                                         size_t *nunreadable,
                                         struct pitr_err *err);

/* Release v[0..n) and v itself. NULL is allowed. */
void pitr_cat_list_release(struct pitr_cat_backup *v, size_t n);

#endif
