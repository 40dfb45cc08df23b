/*
 * fetch_int.h - private to archive/: load one archived WAL file into
 * memory, checked, without writing it anywhere (wal-fetch and the prefetch
 * worker share it).
 */
#ifndef PGPITR_ARCHIVE_FETCH_INT_H
#define PGPITR_ARCHIVE_FETCH_INT_H

#include "pgpitr/core/buf.h"
#include "pgpitr/storage/storage.h"
#include "variants.h"

/*
 * Find the stored variants of WAL file name under server and try them in
 * order (full segments first, then the cheapest codec): get one (no more
 * than its listed size), decompress it into plain (no more than the
 * segment size its header announces; this sets plain's limit) and check
 * it with pitr_wal_check_segment (history and backup files: bounded by
 * PITR_WAL_AUX_MAX, not empty). A copy that fails is logged and the next
 * one tried; when every copy fails: PITR_EFORMAT naming each object and
 * its cause, plain left empty. full_only: a name
 * that is only archived as .partial counts as not archived. On success
 * *key (owned by the caller) names the object and *partial says whether it
 * was the .partial form. Not archived: PITR_ENOTFOUND (with *partial set
 * when full_only refused a .partial form).
 */
PITR_MUST_CHECK pitr_rc pitr_archive_fetch_load(struct pitr_storage *st,
                                                const char *server,
                                                const char *name,
                                                int full_only,
                                                struct pitr_buf *plain,
                                                char **key,
                                                int *partial,
                                                struct pitr_err *err);

/*
 * pitr_archive_fetch_load with the variants of name already listed (the
 * prefetch worker lists a batch at once): listed is borrowed; NULL or
 * empty lists name itself, so "not archived" is only ever concluded from
 * a listing of name alone.
 */
PITR_MUST_CHECK pitr_rc pitr_archive_fetch_load_listed(struct pitr_storage *st,
                                                       const char *server,
                                                       const char *name,
                                                       int full_only,
                                                       const struct wal_variants *listed,
                                                       struct pitr_buf *plain,
                                                       char **key,
                                                       int *partial,
                                                       struct pitr_err *err);

#endif
