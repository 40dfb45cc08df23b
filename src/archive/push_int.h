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

/*
 * Look-ahead (lookahead.c): how many worker threads push a batch of n
 * segments when the user gave jobs (1 when n or jobs is 1; otherwise two per
 * job, at most n and 64), and how many compression threads the job at index
 * (0-based, in the order taken) of such a batch uses.
 */
size_t pitr_lookahead_workers(int jobs, size_t n);
int pitr_lookahead_job_threads(int jobs, size_t n, size_t index, size_t workers);

#endif
