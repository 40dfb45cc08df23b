/* push_int.h - private to archive/: push bytes already read into memory. */
#ifndef PGPITR_ARCHIVE_PUSH_INT_H
#define PGPITR_ARCHIVE_PUSH_INT_H

#include "pgpitr/archive/archive.h"

/* pitr_wal_push for data already read from path (data is borrowed). */
PITR_MUST_CHECK pitr_rc pitr_archive_push_loaded(struct pitr_storage *st,
                                                 const struct pitr_push_opts *o,
                                                 const char *path,
                                                 const struct pitr_buf *data,
                                                 enum pitr_push_outcome *outcome,
                                                 struct pitr_err *err);

#endif
