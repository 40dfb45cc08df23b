/*
 * metrics.h - the agent's Prometheus endpoint (text format 0.0.4).
 *
 * A libmicrohttpd server on its own internal thread answers GET (or HEAD)
 * /metrics on metrics-listen (default 127.0.0.1:9187, "off" disables);
 * any other path is 404, any other method 405. Connections are bounded
 * (PITR_METRICS_MAX_CONN, PITR_METRICS_CONN_TIMEOUT s idle), the page by
 * PITR_METRICS_PAGE_MAX.
 *
 * What is served comes from two places:
 *  - a snapshot the agent's main thread keeps current through the setters
 *    below (under a mutex): leadership, and per Cluster the backup times
 *    of its status, the job in progress, the last backup's duration, the
 *    retention runs and whether the store answered;
 *  - what each scrape reads itself: pg_stat_archiver and data_directory
 *    through a short-lived libpq connection (connect_timeout and
 *    statement_timeout of PITR_METRICS_PG_TIMEOUT s), wal-push's counters
 *    file (wal/pushstats.h) and the .ready/.done counts of
 *    <pgdata>/pg_wal/archive_status.
 * CloudNativePG's metric names (cnpg_collector_*, cnpg_pg_stat_archiver_*)
 * carry no label of ours, as CNPG's do, and describe the first Cluster
 * (by namespace/name); pgpitr_* carry cluster and namespace labels for
 * every Cluster. No setting or secret is ever part of the page.
 *
 * Dependencies: agent/metrics -> wal/pushstats, core; libmicrohttpd, libpq.
 */
#ifndef PGPITR_AGENT_METRICS_H
#define PGPITR_AGENT_METRICS_H

#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/wal/pushstats.h"

#define PITR_METRICS_DEFAULT_LISTEN "127.0.0.1:9187"
#define PITR_METRICS_MAX_CLUSTERS   32
#define PITR_METRICS_NAME_MAX       254 /* Kubernetes names are at most 253 bytes */
#define PITR_METRICS_MAX_CONN       8
#define PITR_METRICS_CONN_TIMEOUT   10
#define PITR_METRICS_PG_TIMEOUT     3
#define PITR_METRICS_PAGE_MAX       ((size_t)1024 * 1024)
#define PITR_METRICS_DIR_MAX        1000000 /* archive_status entries counted at most */

/* What one Cluster contributes (times in unix seconds; 0: never). */
struct pitr_metrics_cluster {
    char ns[PITR_METRICS_NAME_MAX];
    char name[PITR_METRICS_NAME_MAX];
    int64_t last_backup;          /* end of the newest completed backup */
    int64_t last_failed_backup;   /* Cluster status lastFailedBackup */
    int64_t first_recoverability; /* end of the oldest completed backup */
    int backup_in_progress;
    double backup_duration; /* seconds of the last completed backup; < 0: none yet */
    int64_t retention_ok;   /* last successful retention run */
    int64_t retention_failed;
    int storage_up;     /* the status store: 1 last write succeeded, 0 failed, -1 none yet */
    int job_storage_up; /* the last job: 0 it failed on the store, 1 it did not, -1 none yet */
};

/* Everything one page is rendered from. */
struct pitr_metrics_snapshot {
    int64_t now;
    int is_leader;
    size_t ncl;
    struct pitr_metrics_cluster cl[PITR_METRICS_MAX_CLUSTERS]; /* sorted by ns/name */
    /* from PostgreSQL (pg_up 0: the rest of this group is not rendered) */
    int pg_up;
    int64_t archived_count, failed_count;
    double since_archival, since_failure; /* -1: never */
    double last_archived_time, last_failed_time;
    int64_t last_archived_lsn, last_failed_lsn; /* the WAL name's log/segment part; -1 */
    double stats_reset_time;
    /* pg_wal/archive_status (have_wal_status 0: unreadable, not rendered) */
    int have_wal_status;
    int64_t wal_ready, wal_done;
    /* wal-push's counters (have_push 0: stats file off) */
    int have_push;
    struct pitr_pushstats push;
};

/*
 * Render s as Prometheus text into out (bounded by out->limit). Label
 * values are escaped (\\, \", \n); histogram buckets are cumulative.
 */
PITR_MUST_CHECK pitr_rc pitr_metrics_render(const struct pitr_metrics_snapshot *s,
                                            struct pitr_buf *out,
                                            struct pitr_err *err);

struct pitr_metrics_opts {
    const char *listen;     /* "host:port", "[v6]:port", "off" or NULL (the default) */
    const char *conninfo;   /* libpq conninfo of the local server, or NULL (PG*) */
    const char *pgdata;     /* NULL: $PGDATA, else data_directory from the server */
    const char *stats_file; /* NULL: <pgdata>/pg_wal/pgpitr_spool/pushstats; "off" */
};

struct pitr_metrics;

/*
 * Start serving (copies o's strings). "off": *out is NULL and PITR_OK.
 * An address that does not parse: PITR_EUSAGE; one that cannot be bound:
 * PITR_EIO naming it.
 */
PITR_MUST_CHECK pitr_rc pitr_metrics_start(const struct pitr_metrics_opts *o,
                                           struct pitr_metrics **out,
                                           struct pitr_err *err);
/* Stop the server and free m (NULL is fine). */
void pitr_metrics_stop(struct pitr_metrics *m);

/*
 * Setters, called from the agent's main thread; every one accepts m ==
 * NULL (metrics off). A Cluster is added on first mention; past
 * PITR_METRICS_MAX_CLUSTERS the rest are ignored.
 */
void pitr_metrics_set_leader(struct pitr_metrics *m, int is_leader);
void pitr_metrics_set_backup_times(struct pitr_metrics *m,
                                   const char *ns,
                                   const char *name,
                                   int64_t first_recoverability,
                                   int64_t last_backup,
                                   int64_t last_failed_backup);
void pitr_metrics_set_in_progress(struct pitr_metrics *m,
                                  const char *ns,
                                  const char *name,
                                  int in_progress);
void pitr_metrics_set_backup_duration(struct pitr_metrics *m,
                                      const char *ns,
                                      const char *name,
                                      double seconds);
/* A retention run at time t; ok 1 succeeded, 0 failed. Older times than known are ignored. */
void pitr_metrics_set_retention(struct pitr_metrics *m,
                                const char *ns,
                                const char *name,
                                int ok,
                                int64_t t);
/* pgpitr_storage_up is 1 when neither of these says the store failed last time. */
void pitr_metrics_set_storage_up(struct pitr_metrics *m, const char *ns, const char *name, int up);
void pitr_metrics_set_job_storage_up(struct pitr_metrics *m,
                                     const char *ns,
                                     const char *name,
                                     int up);

/* A copy of the agent-kept part of the snapshot (for tests). */
void pitr_metrics_snapshot_copy(struct pitr_metrics *m, struct pitr_metrics_snapshot *out);

/* The rendered page as one scrape makes it (for tests; out as pitr_metrics_render). */
PITR_MUST_CHECK pitr_rc pitr_metrics_scrape(struct pitr_metrics *m,
                                            struct pitr_buf *out,
                                            struct pitr_err *err);

#endif
