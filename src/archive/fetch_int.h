/*
 * fetch_int.h - private to archive/: load one archived WAL file into
 * memory, checked, without writing it anywhere (wal-fetch and the prefetch
 * worker share it).
 */
#ifndef PGPITR_ARCHIVE_FETCH_INT_H
#define PGPITR_ARCHIVE_FETCH_INT_H

#include "pgpitr/core/buf.h"
#include "pgpitr/storage/storage.h"

/*
 * Find the best stored variant of WAL file name under server, get and
 * decompress it into plain (whose limit the caller sets) and, for a
 * segment, check its length against its page header. full_only: a name
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

#endif
