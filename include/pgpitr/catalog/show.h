/*
 * show.h - the catalog as barman-cloud-backup-list and -show print it.
 *
 * Console list: barman's columns (Backup ID, End Time, Begin Wal, Archival
 * Status, Name), DONE backups only, sorted by id. JSON list:
 * {"backups_list": [...]} with every backup whatever its status; one
 * object per backup holds every backup.info field in alphabetical order,
 * converted as Python's json.dumps converts barman's BackupInfo (ints as
 * numbers, None as null, Python literals such as tablespaces and
 * copy_stats as JSON, begin_time/end_time in the form of Python's datetime.ctime, backup_label as
 * its repr() text, ASCII-escaped, ", " and ": " separators), then
 * begin_time_iso/end_time_iso (ISO 8601 with an explicit offset, as newer
 * barman adds) and backup_id last. Show JSON: {"<server_name>": {...}}
 * with the same object (CloudNativePG reads the key "cloud").
 *
 * All output is appended to a caller-owned pitr_buf.
 */
#ifndef PGPITR_CATALOG_SHOW_H
#define PGPITR_CATALOG_SHOW_H

#include <stddef.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/core/buf.h"

PITR_MUST_CHECK pitr_rc pitr_cat_list_console(const struct pitr_cat_backup *v,
                                              size_t n,
                                              struct pitr_buf *out,
                                              struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_cat_list_json(const struct pitr_cat_backup *v,
                                           size_t n,
                                           struct pitr_buf *out,
                                           struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_cat_show_console(const struct pitr_cat_backup *b,
                                              struct pitr_buf *out,
                                              struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_cat_show_json(const struct pitr_cat_backup *b,
                                           struct pitr_buf *out,
                                           struct pitr_err *err);

/* One backup as a JSON object (see above), appended to out. */
PITR_MUST_CHECK pitr_rc pitr_cat_backup_json(const struct pitr_cat_backup *b,
                                             struct pitr_buf *out,
                                             struct pitr_err *err);

/*
 * A Python literal (None, True, False, numbers, str, tuple, list, dict) as
 * JSON, appended to out; PITR_EFORMAT when text is not such a literal.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_pylit_to_json(const char *text,
                                               struct pitr_buf *out,
                                               struct pitr_err *err);

/*
 * A backup.info time as "Mon Nov 23 21:17:50 2026" (Python's datetime.ctime, in
 * the time's own offset) or as ISO 8601 "2026-11-23T21:17:50.753237+00:00"
 * (a time without offset gets +00:00). 0 when text is not a time.
 */
int pitr_cat_time_ctime(const char *text, char out[32]);
int pitr_cat_time_iso(const char *text, char out[48]);

#endif
