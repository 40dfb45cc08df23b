/*
 * backup_int.h - the state of one backup run, shared by the sequence
 * (backup.c) and the replication-protocol copy (stream.c). Not public.
 */
#ifndef PGPITR_BACKUP_BACKUP_INT_H
#define PGPITR_BACKUP_BACKUP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pgpitr/backup/backup.h"
#include "pgpitr/backup/info.h"
#include "pgpitr/backup/sink.h"
#include "pgpitr/backup/tarstream.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/storage/storage.h"

struct pitr_backup_run {
    const struct pitr_backup_opts *o;
    enum pitr_backup_method method; /* o->method, AUTO resolved */
    struct pitr_backup_result *res;
    enum pitr_codec codec;
    struct pitr_storage *st;      /* owned; main thread */
    struct pitr_storage *sink_st; /* owned; the writer thread's, through the sink */
    struct pitr_sink *sink;       /* owned */
    struct pitr_tarstream *ts;    /* owned */
    struct pitr_pg *pg;           /* owned; the SQL session */
    struct pitr_pg *repl;         /* owned; stream mode: the replication connection */
    struct pitr_pg_info info;
    char *pgdata;    /* owned; realpath (local), the server's data_directory (stream) */
    char *prefix;    /* owned; "<server>/base/<id>/" */
    char *lease;     /* owned; the backup's lease key in prefix, NULL: none (see backup.c) */
    time_t lease_at; /* when the lease was last stored */
    struct pitr_pg_start start;
    struct pitr_pg_stop stop;
    int started, stopped;
    char begin_xlog[20], end_xlog[20], begin_time[64], end_time[64];
    struct pitr_info_copy_item *items; /* owned array; names owned below */
    char **item_names;
    size_t nitems;
    struct timespec t0;
    double copy_time;
    uint64_t total_estimate; /* bytes the copy should read, for the ETA; 0: unknown */
};

/*
 * The progress line: bytes read, the estimate (total; 0 when unknown, then
 * no percentage and no ETA), rate and ETA from the mean rate so far, bytes
 * stored. Always NUL-terminated within n.
 */
void pitr_backup_format_progress(char *out,
                                 size_t n,
                                 const char *id,
                                 uint64_t done,
                                 uint64_t stored,
                                 uint64_t total,
                                 double secs);
/* Seconds since *since (CLOCK_MONOTONIC). */
double pitr_backup_elapsed(const struct timespec *since);
/* Record a stream's copy time for backup.info's copy_stats. */
void pitr_backup_add_item(struct pitr_backup_run *r, const char *name, double secs);
/* Fill the begin_* / end_* strings from r->start / r->stop and log them. */
void pitr_backup_note_start(struct pitr_backup_run *r);
void pitr_backup_note_stop(struct pitr_backup_run *r);

/*
 * Stream mode's copy: BASE_BACKUP on a replication connection; each server
 * tar re-packed into the tarstream (tablespaces ended, "data" left open for
 * the caller), the server's backup_manifest stored as <prefix>backup_manifest,
 * r->start and r->stop (with the backup_label from base.tar) filled.
 * *data_t0 is when base.tar began.
 */
PITR_MUST_CHECK pitr_rc pitr_backup_copy_stream(struct pitr_backup_run *r,
                                                struct timespec *data_t0,
                                                struct pitr_err *err);

#endif
