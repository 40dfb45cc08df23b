/*
 * info.h - barman's backup.info, written exactly as barman 3.4 writes it.
 *
 * barman 3.4 refuses a backup.info with any key it does not declare, so the
 * writer emits exactly its key set: one "key=value" line per field, keys in
 * alphabetical order, None for an unset value, backup_name left out when
 * unset, Python repr() for the literal fields (backup_label, tablespaces,
 * copy_stats, included_files). See §2 of the barman-cloud format reference.
 *
 * Also here: the checks barman applies to --name and --max-archive-size.
 */
#ifndef PGPITR_BACKUP_INFO_H
#define PGPITR_BACKUP_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

/* One tablespace as backup.info lists it: (name, oid, location). */
struct pitr_info_tablespace {
    const char *name; /* borrowed */
    uint32_t oid;
    const char *location; /* borrowed */
};

/* Per-stream copy times ("data", or a tablespace oid). */
struct pitr_info_copy_item {
    const char *name; /* borrowed */
    double copy_time;
    double serialized_copy_time;
};

struct pitr_info_copy_stats {
    double total_time;
    int number_of_workers;
    const struct pitr_info_copy_item *items; /* borrowed; tablespaces first, then "data" */
    size_t nitems;
    double copy_time;
    double serialized_copy_time;
};

/*
 * Every field barman 3.4 declares that barman-cloud fills. Strings are
 * borrowed (NULL writes None); integers use -1 for None. Fields barman-cloud
 * always leaves None (compression, deduplicated_size, mode, size) have no
 * member. server_name is always "cloud", as barman-cloud writes it (CNPG
 * reads backup-show's JSON under that key).
 */
struct pitr_backup_info {
    const char *backup_label;
    const char *backup_name; /* NULL: the line is left out */
    int64_t begin_offset;
    const char *begin_time; /* pitr_pg_format_time() form */
    const char *begin_wal;
    const char *begin_xlog;
    const char *config_file;
    const struct pitr_info_copy_stats *copy_stats; /* NULL: None */
    int64_t end_offset;
    const char *end_time;
    const char *end_wal;
    const char *end_xlog;
    const char *error;
    const char *hba_file;
    const char *ident_file;
    const char *const *included_files; /* NULL or nincluded == 0: None */
    size_t nincluded;
    const char *pgdata;
    const char *status; /* "DONE", "FAILED", ... */
    const char *systemid;
    const struct pitr_info_tablespace *tablespaces; /* ntablespaces == 0: None */
    size_t ntablespaces;
    int64_t timeline;
    int64_t version;
    int64_t xlog_segment_size;
};

/* A pitr_backup_info with every integer -1 and every pointer NULL. */
void pitr_backup_info_init(struct pitr_backup_info *bi);

/* Append the backup.info text to out. */
PITR_MUST_CHECK pitr_rc pitr_backup_info_write(const struct pitr_backup_info *bi,
                                               struct pitr_buf *out,
                                               struct pitr_err *err);

/* Append Python's repr() of the UTF-8 string s. */
PITR_MUST_CHECK pitr_rc pitr_py_repr_str(const char *s, struct pitr_buf *out, struct pitr_err *err);

/*
 * Check a backup name as barman does: not a backup id (^\d{8}T\d{6}$), not
 * one of latest, last, oldest, first, last-failed. Further, since the name
 * is written raw into backup.info: not empty, and no control characters.
 */
PITR_MUST_CHECK pitr_rc pitr_backup_check_name(const char *name, struct pitr_err *err);

/* True when s has the shape of a backup id (YYYYMMDDTHHMMSS). */
int pitr_backup_is_id(const char *s);

/*
 * Parse a size as barman's --max-archive-size does: plain bytes, or a number
 * (decimals allowed) with K, M, G, T, P, E, Z or Y and "B" (base 1024, so
 * "100GB" is 100 GiB) or "iB" (base 1000: barman's inversion, kept so the
 * same option value means the same thing); case-insensitive; at least 1.
 */
PITR_MUST_CHECK pitr_rc pitr_parse_size(const char *s, uint64_t *out, struct pitr_err *err);

#endif
