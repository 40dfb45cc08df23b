/* metrics.c - the agent's Prometheus endpoint; see agent/metrics.h. */
#include "pgpitr/agent/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

struct pitr_metrics {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock; /* guards snap and last_stats_error */
    struct pitr_metrics_snapshot snap;
    char *conninfo; /* owned */
    char *pgdata;   /* owned, or NULL */
    char *stats;    /* owned, or NULL (default path) */
    int stats_off;
    char last_stats_error[PITR_ERR_MSG_MAX]; /* logged once until it changes */
    char last_pg_error[PITR_ERR_MSG_MAX];
};

/* ---- rendering ---- */

static pitr_rc put_num(struct pitr_buf *b, double v, struct pitr_err *err)
{
    if (isnan(v))
        return pitr_buf_append_str(b, "NaN", err);
    if (isinf(v))
        return pitr_buf_append_str(b, v > 0 ? "+Inf" : "-Inf", err);
    if (fabs(v) < 1e15 && v == (double)(int64_t)v)
        return pitr_buf_appendf(b, err, "%.0f", v);
    return pitr_buf_appendf(b, err, "%.6f", v);
}

/* A label value with \\, \" and \n escaped. */
static pitr_rc put_label(struct pitr_buf *b, const char *v, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    for (; *v != '\0' && rc == PITR_OK; v++) {
        if (*v == '\\')
            rc = pitr_buf_append_str(b, "\\\\", err);
        else if (*v == '"')
            rc = pitr_buf_append_str(b, "\\\"", err);
        else if (*v == '\n')
            rc = pitr_buf_append_str(b, "\\n", err);
        else
            rc = pitr_buf_append(b, v, 1, err);
    }
    return rc;
}

static pitr_rc head(struct pitr_buf *b,
                    const char *name,
                    const char *type,
                    const char *help,
                    struct pitr_err *err)
{
    return pitr_buf_appendf(b, err, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v"...} value; labels is a NULL-terminated key, value list (may be NULL). */
static pitr_rc sample(struct pitr_buf *b,
                      const char *name,
                      const char *const *labels,
                      double v,
                      struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_append_str(b, name, err);
    size_t i;

    for (i = 0; rc == PITR_OK && labels != NULL && labels[i] != NULL; i += 2) {
        rc = pitr_buf_appendf(b, err, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
        if (rc == PITR_OK)
            rc = put_label(b, labels[i + 1], err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(b, labels[i + 2] == NULL ? "\"}" : "\"", err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(b, " ", err);
    if (rc == PITR_OK)
        rc = put_num(b, v, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(b, "\n", err);
    return rc;
}

static pitr_rc gauge1(struct pitr_buf *b,
                      const char *name,
                      const char *type,
                      const char *help,
                      double v,
                      struct pitr_err *err)
{
    pitr_rc rc = head(b, name, type, help, err);

    return rc == PITR_OK ? sample(b, name, NULL, v, err) : rc;
}

/* An unlabelled family: HELP, TYPE and its one sample. */
struct family {
    const char *name;
    const char *type;
    const char *help;
    double v;
};

static pitr_rc families(struct pitr_buf *b, const struct family *f, size_t n, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;
    size_t i;

    for (i = 0; i < n && rc == PITR_OK; i++)
        rc = gauge1(b, f[i].name, f[i].type, f[i].help, f[i].v, err);
    return rc;
}

/* One per-Cluster pgpitr_* family. */
enum cl_field {
    F_IN_PROGRESS,
    F_DURATION,
    F_WINDOW,
    F_STORAGE,
};

static pitr_rc per_cluster(struct pitr_buf *b,
                           const struct pitr_metrics_snapshot *s,
                           const char *name,
                           const char *help,
                           enum cl_field f,
                           struct pitr_err *err)
{
    pitr_rc rc;
    size_t i;

    if (s->ncl == 0)
        return PITR_OK;
    rc = head(b, name, "gauge", help, err);
    for (i = 0; i < s->ncl && rc == PITR_OK; i++) {
        const struct pitr_metrics_cluster *c = &s->cl[i];
        const char *labels[] = { "cluster", c->name, "namespace", c->ns, NULL };
        double v = 0;

        switch (f) {
        case F_IN_PROGRESS:
            v = c->backup_in_progress ? 1 : 0;
            break;
        case F_DURATION:
            if (c->backup_duration < 0)
                continue;
            v = c->backup_duration;
            break;
        case F_WINDOW:
            v = c->first_recoverability > 0 && s->now > c->first_recoverability
                  ? (double)(s->now - c->first_recoverability)
                  : 0;
            break;
        case F_STORAGE:
            if (c->storage_up < 0 && c->job_storage_up < 0)
                continue;
            v = c->storage_up != 0 && c->job_storage_up != 0 ? 1 : 0;
            break;
        }
        rc = sample(b, name, labels, v, err);
    }
    return rc;
}

static pitr_rc render_cnpg(const struct pitr_metrics_snapshot *s,
                           struct pitr_buf *b,
                           struct pitr_err *err)
{
    const struct pitr_metrics_cluster *c = s->ncl > 0 ? &s->cl[0] : NULL;
    pitr_rc rc = PITR_OK;

    if (c != NULL) {
        const char *labels[] = { "cluster", c->name, NULL };

        rc = head(
          b, "cnpg_collector_up", "gauge", "1 if PostgreSQL answered this scrape, else 0.", err);
        if (rc == PITR_OK)
            rc = sample(b, "cnpg_collector_up", labels, s->pg_up ? 1 : 0, err);
    }
    if (rc == PITR_OK) {
        const struct family backups[] = {
            { "cnpg_collector_last_available_backup_timestamp",
              "gauge",
              "End of the newest completed backup in the repository (unix seconds; 0: none).",
              c != NULL ? (double)c->last_backup : 0 },
            { "cnpg_collector_last_failed_backup_timestamp",
              "gauge",
              "When the last backup failed (unix seconds; 0: never).",
              c != NULL ? (double)c->last_failed_backup : 0 },
            { "cnpg_collector_first_recoverability_point",
              "gauge",
              "End of the oldest completed backup: the earliest time a restore can reach (unix "
              "seconds; 0: none).",
              c != NULL ? (double)c->first_recoverability : 0 },
        };

        rc = families(b, backups, sizeof(backups) / sizeof(backups[0]), err);
    }
    if (rc == PITR_OK && s->have_wal_status) {
        const char *done[] = { "value", "done", NULL }, *ready[] = { "value", "ready", NULL };

        rc = head(b,
                  "cnpg_collector_pg_wal_archive_status",
                  "gauge",
                  "WAL files in pg_wal/archive_status by state (ready: waiting to be archived, "
                  "done: archived).",
                  err);
        if (rc == PITR_OK)
            rc = sample(b, "cnpg_collector_pg_wal_archive_status", done, (double)s->wal_done, err);
        if (rc == PITR_OK)
            rc =
              sample(b, "cnpg_collector_pg_wal_archive_status", ready, (double)s->wal_ready, err);
    }
    if (rc != PITR_OK || !s->pg_up)
        return rc;
    {
        const struct family archiver[] = {
            { "cnpg_pg_stat_archiver_archived_count",
              "counter",
              "WAL files archived successfully (pg_stat_archiver.archived_count).",
              (double)s->archived_count },
            { "cnpg_pg_stat_archiver_failed_count",
              "counter",
              "Failed attempts to archive a WAL file (pg_stat_archiver.failed_count).",
              (double)s->failed_count },
            { "cnpg_pg_stat_archiver_seconds_since_last_archival",
              "gauge",
              "Seconds since the last WAL file was archived (-1: never).",
              s->since_archival },
            { "cnpg_pg_stat_archiver_seconds_since_last_failure",
              "gauge",
              "Seconds since the last failed archiving attempt (-1: never).",
              s->since_failure },
            { "cnpg_pg_stat_archiver_last_archived_time",
              "gauge",
              "When the last WAL file was archived (unix seconds; -1: never).",
              s->last_archived_time },
            { "cnpg_pg_stat_archiver_last_failed_time",
              "gauge",
              "When archiving last failed (unix seconds; -1: never).",
              s->last_failed_time },
            { "cnpg_pg_stat_archiver_last_archived_wal_start_lsn",
              "gauge",
              "Log and segment number (the last 16 hex digits of the name) of the last archived "
              "WAL segment, as CloudNativePG computes it (-1: none).",
              (double)s->last_archived_lsn },
            { "cnpg_pg_stat_archiver_last_failed_wal_start_lsn",
              "gauge",
              "The same for the last WAL segment that failed (-1: none).",
              (double)s->last_failed_lsn },
            { "cnpg_pg_stat_archiver_stats_reset_time",
              "gauge",
              "When pg_stat_archiver was last reset (unix seconds).",
              s->stats_reset_time },
        };

        rc = families(b, archiver, sizeof(archiver) / sizeof(archiver[0]), err);
    }
    return rc;
}

static pitr_rc render_push(const struct pitr_metrics_snapshot *s,
                           struct pitr_buf *b,
                           struct pitr_err *err)
{
    const struct pitr_pushstats *p = &s->push;
    const char *name = "pgpitr_wal_push_seconds_bucket";
    uint64_t cum = 0, total = 0;
    pitr_rc rc;
    int i;

    rc = head(b,
              "pgpitr_wal_push_total",
              "counter",
              "wal-push runs by result (ok: stored now or by an earlier look-ahead push; "
              "already_archived: the same bytes were there; error: archive_command failed).",
              err);
    for (i = 0; i < PITR_PUSHSTAT_NRESULTS && rc == PITR_OK; i++) {
        const char *labels[] = { "result",
                                 pitr_pushstats_result_name((enum pitr_push_result)i),
                                 NULL };

        rc = sample(b, "pgpitr_wal_push_total", labels, (double)p->count[i], err);
    }
    if (rc == PITR_OK)
        rc = head(b,
                  "pgpitr_wal_push_seconds",
                  "histogram",
                  "Seconds one wal-push run took, whatever its result.",
                  err);
    for (i = 0; i < PITR_PUSHSTATS_NBUCKETS && rc == PITR_OK; i++) {
        char le[32];
        const char *labels[] = { "le", le, NULL };

        cum += p->bucket[i];
        if (i < PITR_PUSHSTATS_NBOUNDS)
            snprintf(le, sizeof(le), "%g", pitr_pushstats_bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        rc = sample(b, name, labels, (double)cum, err);
    }
    total = cum;
    if (rc == PITR_OK)
        rc = sample(b, "pgpitr_wal_push_seconds_sum", NULL, (double)p->sum_us / 1e6, err);
    if (rc == PITR_OK)
        rc = sample(b, "pgpitr_wal_push_seconds_count", NULL, (double)total, err);
    if (rc == PITR_OK)
        rc = gauge1(b,
                    "pgpitr_last_archived_timestamp",
                    "gauge",
                    "When wal-push last archived a WAL file (unix seconds; 0: never).",
                    (double)p->last_archived_time,
                    err);
    return rc;
}

pitr_rc pitr_metrics_render(const struct pitr_metrics_snapshot *s,
                            struct pitr_buf *out,
                            struct pitr_err *err)
{
    pitr_rc rc = render_cnpg(s, out, err);
    size_t i;

    if (rc == PITR_OK && s->have_push)
        rc = render_push(s, out, err);
    if (rc == PITR_OK && s->have_wal_status)
        rc = gauge1(out,
                    "pgpitr_archive_ready_segments",
                    "gauge",
                    "WAL files PostgreSQL marked ready that are not archived yet.",
                    (double)s->wal_ready,
                    err);
    if (rc == PITR_OK)
        rc = per_cluster(out,
                         s,
                         "pgpitr_backup_in_progress",
                         "1 while this agent runs a backup of the Cluster.",
                         F_IN_PROGRESS,
                         err);
    if (rc == PITR_OK)
        rc = per_cluster(out,
                         s,
                         "pgpitr_backup_duration_seconds",
                         "Seconds the last completed backup took (start to stop of the backup).",
                         F_DURATION,
                         err);
    if (rc == PITR_OK && s->ncl > 0)
        rc = head(out,
                  "pgpitr_retention_last_run_timestamp",
                  "gauge",
                  "When retention last ran with this result (unix seconds; 0: never).",
                  err);
    for (i = 0; i < s->ncl && rc == PITR_OK; i++) {
        const struct pitr_metrics_cluster *c = &s->cl[i];
        const char *ok[] = { "cluster", c->name, "namespace", c->ns, "result", "succeeded", NULL };
        const char *ko[] = { "cluster", c->name, "namespace", c->ns, "result", "failed", NULL };

        rc = sample(out, "pgpitr_retention_last_run_timestamp", ok, (double)c->retention_ok, err);
        if (rc == PITR_OK)
            rc = sample(
              out, "pgpitr_retention_last_run_timestamp", ko, (double)c->retention_failed, err);
    }
    if (rc == PITR_OK)
        rc = per_cluster(out,
                         s,
                         "pgpitr_recovery_window_seconds",
                         "Seconds from the first recoverability point to now (0: no backup).",
                         F_WINDOW,
                         err);
    if (rc == PITR_OK)
        rc = per_cluster(out,
                         s,
                         "pgpitr_storage_up",
                         "1 if the last operation on the Cluster's object store succeeded.",
                         F_STORAGE,
                         err);
    if (rc == PITR_OK)
        rc = gauge1(out,
                    "pgpitr_is_leader",
                    "gauge",
                    "1 if this agent does the cluster-wide work (schedules, retention, status).",
                    s->is_leader ? 1 : 0,
                    err);
    return rc;
}

/* ---- what a scrape reads itself ---- */

#define ARCHIVER_SQL                                                                               \
    "select archived_count, failed_count, "                                                        \
    "coalesce(extract(epoch from (now() - last_archived_time)), -1), "                             \
    "coalesce(extract(epoch from (now() - last_failed_time)), -1), "                               \
    "coalesce(extract(epoch from last_archived_time), -1), "                                       \
    "coalesce(extract(epoch from last_failed_time), -1), "                                         \
    "case when length(split_part(last_archived_wal, '.', 1)) = 24 then "                           \
    "cast(cast('x' || right(split_part(last_archived_wal, '.', 1), 16) as bit(64)) as int8) "      \
    "else -1 end, "                                                                                \
    "case when length(split_part(last_failed_wal, '.', 1)) = 24 then "                             \
    "cast(cast('x' || right(split_part(last_failed_wal, '.', 1), 16) as bit(64)) as int8) "        \
    "else -1 end, "                                                                                \
    "coalesce(extract(epoch from stats_reset), 0), current_setting('data_directory') "             \
    "from pg_stat_archiver"

static double num_at(PGresult *r, int col)
{
    char *end = NULL;
    const char *v = PQgetvalue(r, 0, col);
    double d = strtod(v, &end);

    return end != v && isfinite(d) ? d : -1;
}

/* pg_stat_archiver into s; *datadir gets data_directory (owned) when asked for. */
static void read_archiver(struct pitr_metrics *m, struct pitr_metrics_snapshot *s, char **datadir)
{
    const char *keys[] = { "dbname", "connect_timeout", "options", "application_name", NULL };
    char conninfo[1100], timeout[16], opts[64];
    const char *vals[5];
    PGconn *c;
    PGresult *r = NULL;

    /* as the agent: NULL is the PG* variables, a bare word a database name */
    if (m->conninfo == NULL)
        snprintf(conninfo, sizeof(conninfo), "dbname=postgres");
    else if (strchr(m->conninfo, '=') == NULL && strncmp(m->conninfo, "postgres", 8) != 0)
        snprintf(conninfo, sizeof(conninfo), "dbname='%.1000s'", m->conninfo);
    else
        snprintf(conninfo, sizeof(conninfo), "%.1090s", m->conninfo);
    snprintf(timeout, sizeof(timeout), "%d", PITR_METRICS_PG_TIMEOUT);
    snprintf(opts, sizeof(opts), "-c statement_timeout=%d", PITR_METRICS_PG_TIMEOUT * 1000);
    vals[0] = conninfo;
    vals[1] = timeout;
    vals[2] = opts;
    vals[3] = "pgpitr-metrics";
    vals[4] = NULL;
    c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) == CONNECTION_OK) {
        r = PQexec(c, ARCHIVER_SQL);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 10) {
            s->pg_up = 1;
            s->archived_count = (int64_t)num_at(r, 0);
            s->failed_count = (int64_t)num_at(r, 1);
            s->since_archival = num_at(r, 2);
            s->since_failure = num_at(r, 3);
            s->last_archived_time = num_at(r, 4);
            s->last_failed_time = num_at(r, 5);
            s->last_archived_lsn = (int64_t)num_at(r, 6);
            s->last_failed_lsn = (int64_t)num_at(r, 7);
            s->stats_reset_time = num_at(r, 8);
            if (datadir != NULL && !PQgetisnull(r, 0, 9) && PQgetlength(r, 0, 9) < 4096)
                *datadir = pitr_strdup(PQgetvalue(r, 0, 9));
        }
    }
    if (!s->pg_up) {
        const char *msg = PQerrorMessage(c);
        size_t n = strcspn(msg, "\n");

        pthread_mutex_lock(&m->lock);
        if (strncmp(m->last_pg_error, msg, n) != 0 || m->last_pg_error[n] != '\0') {
            snprintf(m->last_pg_error, sizeof(m->last_pg_error), "%.*s", (int)n, msg);
            pitr_log_warn("metrics: pg_stat_archiver not read: %s", m->last_pg_error);
        }
        pthread_mutex_unlock(&m->lock);
    } else {
        pthread_mutex_lock(&m->lock);
        m->last_pg_error[0] = '\0';
        pthread_mutex_unlock(&m->lock);
    }
    PQclear(r);
    PQfinish(c);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* .ready/.done in <pgdata>/pg_wal/archive_status (the folder itself is not followed if a link). */
static void read_wal_status(const char *pgdata, struct pitr_metrics_snapshot *s)
{
    char *path = pitr_asprintf("%s/pg_wal/archive_status", pgdata);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    int64_t seen = 0;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        pitr_free(path);
        return;
    }
    while ((de = readdir(d)) != NULL && seen < PITR_METRICS_DIR_MAX) {
        seen++;
        if (ends_with(de->d_name, ".ready"))
            s->wal_ready++;
        else if (ends_with(de->d_name, ".done"))
            s->wal_done++;
    }
    closedir(d);
    s->have_wal_status = 1;
    pitr_free(path);
}

static void read_push(struct pitr_metrics *m, const char *pgdata, struct pitr_metrics_snapshot *s)
{
    struct pitr_err err = { 0 };
    char *path = NULL, *waldir = NULL;
    pitr_rc rc;

    if (m->stats_off)
        return;
    s->have_push = 1;
    if (m->stats != NULL) {
        path = pitr_strdup(m->stats);
    } else if (pgdata != NULL) {
        waldir = pitr_asprintf("%s/pg_wal", pgdata);
        path = pitr_pushstats_default_path(waldir);
    } else {
        return; /* no place to look: zero counters */
    }
    rc = pitr_pushstats_read(path, &s->push, &err);
    pthread_mutex_lock(&m->lock);
    if (rc != PITR_OK && rc != PITR_ENOTFOUND && strcmp(m->last_stats_error, err.msg) != 0) {
        snprintf(m->last_stats_error, sizeof(m->last_stats_error), "%s", err.msg);
        pitr_log_warn("metrics: wal-push counters not read: %s", err.msg);
    } else if (rc == PITR_OK) {
        m->last_stats_error[0] = '\0';
    }
    pthread_mutex_unlock(&m->lock);
    pitr_free(path);
    pitr_free(waldir);
}

pitr_rc pitr_metrics_scrape(struct pitr_metrics *m, struct pitr_buf *out, struct pitr_err *err)
{
    struct pitr_metrics_snapshot *s = pitr_calloc(1, sizeof(*s));
    char *datadir = NULL;
    const char *pgdata = m->pgdata;
    pitr_rc rc;

    pitr_metrics_snapshot_copy(m, s);
    s->now = (int64_t)time(NULL);
    read_archiver(m, s, pgdata == NULL ? &datadir : NULL);
    if (pgdata == NULL)
        pgdata = datadir;
    if (pgdata != NULL)
        read_wal_status(pgdata, s);
    read_push(m, pgdata, s);
    rc = pitr_metrics_render(s, out, err);
    pitr_free(datadir);
    pitr_free(s);
    return rc;
}

/* ---- the server ---- */

static enum MHD_Result answer(struct MHD_Connection *conn,
                              unsigned code,
                              const char *body,
                              size_t len)
{
    struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r,
                            MHD_HTTP_HEADER_CONTENT_TYPE,
                            code == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
                                                : "text/plain; charset=utf-8");
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls)
{
    static int first_call_marker;
    struct pitr_metrics *m = cls;
    struct pitr_buf b;
    struct pitr_err err = { 0 };
    enum MHD_Result ret;

    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* headers only so far */
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a body we do not want: drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", 19);
    if (strcmp(url, "/metrics") != 0)
        return answer(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", 24);
    pitr_buf_init(&b, PITR_METRICS_PAGE_MAX);
    if (pitr_metrics_scrape(m, &b, &err) != PITR_OK) {
        pitr_log_warn("metrics: %s", err.msg);
        pitr_buf_release(&b);
        return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics failed\n", 15);
    }
    ret = answer(conn, MHD_HTTP_OK, b.data != NULL ? b.data : "", b.len);
    pitr_buf_release(&b);
    return ret;
}

/* "host:port" or "[v6]:port" into an address. */
static pitr_rc parse_listen(const char *listen,
                            struct sockaddr_storage *ss,
                            socklen_t *len,
                            struct pitr_err *err)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints, *res = NULL;
    size_t hl;
    long pn;
    char *end = NULL;
    int gai;

    if (listen[0] == '[') {
        const char *close_br = strchr(listen, ']');

        if (close_br == NULL || close_br[1] != ':')
            goto bad;
        hl = (size_t)(close_br - listen - 1);
        if (hl == 0 || hl >= sizeof(host))
            goto bad;
        memcpy(host, listen + 1, hl);
        port = close_br + 2;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || strchr(listen, ':') != colon)
            goto bad;
        hl = (size_t)(colon - listen);
        if (hl == 0 || hl >= sizeof(host))
            goto bad;
        memcpy(host, listen, hl);
        port = colon + 1;
    }
    host[hl] = '\0';
    errno = 0;
    pn = strtol(port, &end, 10);
    if (errno != 0 || end == port || *end != '\0' || pn < 1 || pn > 65535)
        goto bad;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0 || res == NULL || res->ai_addrlen > sizeof(*ss)) {
        if (res != NULL)
            freeaddrinfo(res);
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "metrics-listen '%s': cannot resolve '%s': %s",
                            listen,
                            host,
                            gai != 0 ? gai_strerror(gai) : "no address");
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return PITR_OK;
bad:
    return pitr_err_set(
      err, PITR_EUSAGE, "metrics-listen '%s': expected HOST:PORT, [IPv6]:PORT or off", listen);
}

pitr_rc pitr_metrics_start(const struct pitr_metrics_opts *o,
                           struct pitr_metrics **out,
                           struct pitr_err *err)
{
    const char *listen = o->listen != NULL ? o->listen : PITR_METRICS_DEFAULT_LISTEN;
    struct pitr_metrics *m = NULL;
    struct sockaddr_storage ss;
    socklen_t slen = 0;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    const char *env;
    pitr_rc rc;

    *out = NULL;
    if (strcmp(listen, "off") == 0)
        return PITR_OK;
    memset(&ss, 0, sizeof(ss));
    rc = parse_listen(listen, &ss, &slen, err);
    if (rc != PITR_OK)
        return rc;
    m = pitr_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->conninfo = o->conninfo != NULL ? pitr_strdup(o->conninfo) : NULL;
    m->pgdata = o->pgdata != NULL ? pitr_strdup(o->pgdata) : NULL;
    env = getenv("PGDATA");
    if (m->pgdata == NULL && env != NULL && env[0] != '\0')
        m->pgdata = pitr_strdup(env);
    m->stats_off = o->stats_file != NULL && strcmp(o->stats_file, "off") == 0;
    m->stats = o->stats_file != NULL && !m->stats_off ? pitr_strdup(o->stats_file) : NULL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(flags,
                                 0,
                                 NULL,
                                 NULL,
                                 on_request,
                                 m,
                                 MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&ss,
                                 MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)PITR_METRICS_MAX_CONN,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)PITR_METRICS_MAX_CONN,
                                 MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)PITR_METRICS_CONN_TIMEOUT,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                 (size_t)32 * 1024,
                                 MHD_OPTION_END);
    if (m->daemon == NULL) {
        pitr_metrics_stop(m);
        return pitr_err_set(err,
                            PITR_EIO,
                            "metrics-listen '%s': cannot listen there (address in use or not "
                            "local?)",
                            listen);
    }
    pitr_log_info("metrics: serving /metrics on %s", listen);
    *out = m;
    return PITR_OK;
}

void pitr_metrics_stop(struct pitr_metrics *m)
{
    if (m == NULL)
        return;
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->lock);
    pitr_free(m->conninfo);
    pitr_free(m->pgdata);
    pitr_free(m->stats);
    pitr_free(m);
}

/* ---- setters ---- */

static int cmp_cluster(const void *a, const void *b)
{
    const struct pitr_metrics_cluster *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);

    return c != 0 ? c : strcmp(x->name, y->name);
}

/* The Cluster's entry (added, sorted, on first mention); NULL when full. Caller holds the lock. */
static struct pitr_metrics_cluster *find(struct pitr_metrics *m, const char *ns, const char *name)
{
    struct pitr_metrics_snapshot *s = &m->snap;
    struct pitr_metrics_cluster key;
    size_t i;

    memset(&key, 0, sizeof(key));
    snprintf(key.ns, sizeof(key.ns), "%s", ns != NULL ? ns : "");
    snprintf(key.name, sizeof(key.name), "%s", name != NULL ? name : "");
    for (i = 0; i < s->ncl; i++)
        if (cmp_cluster(&s->cl[i], &key) == 0)
            return &s->cl[i];
    if (s->ncl >= PITR_METRICS_MAX_CLUSTERS)
        return NULL;
    key.backup_duration = -1;
    key.storage_up = -1;
    key.job_storage_up = -1;
    s->cl[s->ncl++] = key;
    qsort(s->cl, s->ncl, sizeof(s->cl[0]), cmp_cluster);
    for (i = 0; i < s->ncl; i++)
        if (cmp_cluster(&s->cl[i], &key) == 0)
            return &s->cl[i];
    return NULL;
}

void pitr_metrics_set_leader(struct pitr_metrics *m, int is_leader)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->snap.is_leader = is_leader ? 1 : 0;
    pthread_mutex_unlock(&m->lock);
}

void pitr_metrics_set_backup_times(struct pitr_metrics *m,
                                   const char *ns,
                                   const char *name,
                                   int64_t first_recoverability,
                                   int64_t last_backup,
                                   int64_t last_failed_backup)
{
    struct pitr_metrics_cluster *c;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    c = find(m, ns, name);
    if (c != NULL) {
        c->first_recoverability = first_recoverability;
        c->last_backup = last_backup;
        c->last_failed_backup = last_failed_backup;
    }
    pthread_mutex_unlock(&m->lock);
}

void pitr_metrics_set_in_progress(struct pitr_metrics *m,
                                  const char *ns,
                                  const char *name,
                                  int in_progress)
{
    struct pitr_metrics_cluster *c;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    c = find(m, ns, name);
    if (c != NULL)
        c->backup_in_progress = in_progress ? 1 : 0;
    pthread_mutex_unlock(&m->lock);
}

void pitr_metrics_set_backup_duration(struct pitr_metrics *m,
                                      const char *ns,
                                      const char *name,
                                      double seconds)
{
    struct pitr_metrics_cluster *c;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    c = find(m, ns, name);
    if (c != NULL)
        c->backup_duration = seconds;
    pthread_mutex_unlock(&m->lock);
}

void pitr_metrics_set_retention(struct pitr_metrics *m,
                                const char *ns,
                                const char *name,
                                int ok,
                                int64_t t)
{
    struct pitr_metrics_cluster *c;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    c = find(m, ns, name);
    if (c != NULL && ok && t > c->retention_ok)
        c->retention_ok = t;
    else if (c != NULL && !ok && t > c->retention_failed)
        c->retention_failed = t;
    pthread_mutex_unlock(&m->lock);
}

void pitr_metrics_set_storage_up(struct pitr_metrics *m, const char *ns, const char *name, int up)
{
    struct pitr_metrics_cluster *c;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    c = find(m, ns, name);
    if (c != NULL)
        c->storage_up = up ? 1 : 0;
    pthread_mutex_unlock(&m->lock);
}

void pitr_metrics_set_job_storage_up(struct pitr_metrics *m,
                                     const char *ns,
                                     const char *name,
                                     int up)
{
    struct pitr_metrics_cluster *c;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    c = find(m, ns, name);
    if (c != NULL)
        c->job_storage_up = up ? 1 : 0;
    pthread_mutex_unlock(&m->lock);
}

void pitr_metrics_snapshot_copy(struct pitr_metrics *m, struct pitr_metrics_snapshot *out)
{
    pthread_mutex_lock(&m->lock);
    *out = m->snap;
    pthread_mutex_unlock(&m->lock);
}
