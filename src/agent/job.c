/*
 * job.c - the agent's background job: the archive check CNPG runs before a
 * backup, the backup itself (pitr_backup_run, in this process), the
 * catalog facts for Backup.status and the Cluster, and retention.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "pgpitr/catalog/catalog.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

static void sleep_cancellable(struct job *j, int seconds)
{
    int i;

    for (i = 0; i < seconds * 10 && !j->cancel; i++) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };

        nanosleep(&ts, NULL);
    }
}

/*
 * pg_stat_archiver must show a WAL archived after the last failure. On a
 * primary that never archived anything, CHECKPOINT and pg_switch_wal()
 * once (an idle server would otherwise never archive). Bounded by
 * archive_check_tries x archive_check_wait.
 */
static pitr_rc archive_check(struct job *j, struct pitr_err *err)
{
    const char *sql = "select pg_is_in_recovery(), last_archived_time is not null, "
                      "coalesce(last_archived_time > coalesce(last_failed_time, '-infinity'), "
                      "false), coalesce(last_failed_wal, ''), "
                      "coalesce(to_char(last_failed_time at time zone 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), current_setting('archive_mode') "
                      "from pg_stat_archiver";
    char last[PITR_ERR_MSG_MAX] = "no answer";
    int attempt, switched = 0;

    char conninfo[1024];

    /* as pitr_pg_connect: NULL is the PG* variables, a bare word a database name */
    if (j->conninfo == NULL)
        snprintf(conninfo, sizeof(conninfo), "dbname=postgres");
    else if (strchr(j->conninfo, '=') == NULL && strncmp(j->conninfo, "postgres", 8) != 0)
        snprintf(conninfo, sizeof(conninfo), "dbname='%.1000s'", j->conninfo);
    else
        snprintf(conninfo, sizeof(conninfo), "%.1020s", j->conninfo);
    for (attempt = 0; attempt < j->archive_check_tries && !j->cancel; attempt++) {
        PGconn *c = PQconnectdb(conninfo);
        PGresult *r = NULL;

        if (PQstatus(c) != CONNECTION_OK) {
            const char *m = PQerrorMessage(c);
            size_t n = strcspn(m, "\n");

            snprintf(last, sizeof(last), "cannot connect to PostgreSQL: %.*s", (int)n, m);
            goto next;
        }
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 6) {
            const char *m = PQerrorMessage(c);

            snprintf(last, sizeof(last), "pg_stat_archiver: %.*s", (int)strcspn(m, "\n"), m);
            goto next;
        }
        if (strcmp(PQgetvalue(r, 0, 5), "off") == 0) {
            snprintf(last, sizeof(last), "archive_mode is off");
            goto next;
        }
        if (strcmp(PQgetvalue(r, 0, 2), "t") == 0) {
            PQclear(r);
            PQfinish(c);
            return PITR_OK;
        }
        if (strcmp(PQgetvalue(r, 0, 1), "f") == 0) {
            snprintf(last, sizeof(last), "no WAL file was archived yet");
            if (strcmp(PQgetvalue(r, 0, 0), "f") == 0 && !switched) {
                PGresult *s;

                switched = 1;
                pitr_log_info("backup %s: nothing archived yet: CHECKPOINT and pg_switch_wal()",
                              j->backup_name);
                s = PQexec(c, "checkpoint");
                PQclear(s);
                s = PQexec(c, "select pg_switch_wal()");
                PQclear(s);
            }
        } else {
            snprintf(last,
                     sizeof(last),
                     "the last archive attempt failed (WAL %s at %s)",
                     PQgetvalue(r, 0, 3),
                     PQgetvalue(r, 0, 4));
        }
    next:
        PQclear(r);
        PQfinish(c);
        if (attempt + 1 < j->archive_check_tries)
            sleep_cancellable(j, j->archive_check_wait);
    }
    if (j->cancel)
        return pitr_err_set(err, PITR_EGENERAL, "cancelled during the WAL archive check");
    j->wal_failing = 1;
    return pitr_err_set(err,
                        PITR_EGENERAL,
                        "WAL archiving is not working after %d checks: %s",
                        j->archive_check_tries,
                        last);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Facts from the catalog: this backup's times and LSNs, FRP, the newest DONE, every id. */
static pitr_rc catalog_facts(struct job *j, struct pitr_storage *st, struct pitr_err *err)
{
    struct pitr_cat_backup *v = NULL;
    size_t n = 0, i;
    pitr_rc rc;

    rc = pitr_cat_load(st, j->cfg.server, &v, &n, err);
    if (rc != PITR_OK)
        return rc;
    j->first_recoverability = 0;
    j->last_successful = 0;
    pitr_free(j->ids);
    j->ids = pitr_calloc(n > 0 ? n : 1, sizeof(*j->ids));
    j->nids = 0;
    for (i = 0; i < n; i++) {
        const struct pitr_cat_backup *b = &v[i];

        if (b->id != NULL && strlen(b->id) < sizeof(j->ids[0]) && j->nids < JOB_IDS_MAX)
            snprintf(j->ids[j->nids++], sizeof(j->ids[0]), "%s", b->id);
        if (b->status != NULL && strcmp(b->status, "DONE") == 0 && b->has_end_time) {
            int64_t t = b->end_time_us / 1000000;

            if (j->first_recoverability == 0 || t < j->first_recoverability)
                j->first_recoverability = t;
            if (t > j->last_successful)
                j->last_successful = t;
        }
        if (j->kind == JOB_BACKUP && b->id != NULL && strcmp(b->id, j->res.backup_id) == 0) {
            snprintf(
              j->begin_time, sizeof(j->begin_time), "%s", b->begin_time ? b->begin_time : "");
            snprintf(j->end_time, sizeof(j->end_time), "%s", b->end_time ? b->end_time : "");
            snprintf(j->begin_lsn, sizeof(j->begin_lsn), "%s", b->begin_xlog ? b->begin_xlog : "");
            snprintf(j->end_lsn, sizeof(j->end_lsn), "%s", b->end_xlog ? b->end_xlog : "");
        }
    }
    qsort(j->ids, j->nids, sizeof(j->ids[0]), cmp_id);
    j->have_ids = j->nids < JOB_IDS_MAX;
    pitr_cat_list_release(v, n);
    return PITR_OK;
}

static void run_retention(struct job *j, struct pitr_storage *st)
{
    struct pitr_ret_policy p;
    struct timespec now;
    FILE *devnull;

    j->retention_ran = 1;
    j->retention_rc = pitr_ret_parse_policy(j->policy, &p, &j->retention_err);
    if (j->retention_rc != PITR_OK)
        return;
    snprintf(j->policy_text, sizeof(j->policy_text), "%s", p.text);
    clock_gettime(CLOCK_REALTIME, &now);
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL) {
        j->retention_rc = pitr_err_set(&j->retention_err, PITR_EIO, "cannot open /dev/null");
        return;
    }
    j->retention_rc = pitr_ret_apply(st,
                                     j->cfg.server,
                                     &p,
                                     0,
                                     (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000,
                                     0,
                                     devnull,
                                     &j->retention,
                                     &j->retention_err);
    fclose(devnull);
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    struct pitr_storage *st = NULL;
    struct pitr_err e2 = { 0 };

    if (j->kind == JOB_BACKUP) {
        struct pitr_backup_opts o;

        j->rc = archive_check(j, &j->err);
        if (j->rc != PITR_OK)
            goto out;
        j->stage = 1;
        memset(&o, 0, sizeof(o));
        o.cfg = &j->cfg;
        o.method = PITR_BACKUP_AUTO;
        if (j->cfg.method != NULL && strcmp(j->cfg.method, "local") == 0)
            o.method = PITR_BACKUP_LOCAL;
        else if (j->cfg.method != NULL && strcmp(j->cfg.method, "stream") == 0)
            o.method = PITR_BACKUP_STREAM;
        o.pgdata = j->pgdata;
        o.conninfo = j->conninfo;
        if (j->backup_conninfo != NULL) {
            /* a standby chosen by the leader: BASE_BACKUP over its replication protocol */
            o.method = PITR_BACKUP_STREAM;
            o.pgdata = NULL;
            o.conninfo = j->backup_conninfo;
        }
        o.immediate_checkpoint = j->immediate_checkpoint;
        o.jobs = j->cfg.jobs > 0 ? j->cfg.jobs : 2;
        o.max_archive_size = PITR_BACKUP_DEFAULT_MAX_ARCHIVE;
        o.name = j->backup_name;
        o.wal_wait_timeout = j->wal_wait_timeout;
        o.cancel = &j->cancel;
        j->rc = pitr_backup_run(&o, &j->res, &j->err);
        if (j->rc != PITR_OK)
            goto out;
    }
    j->stage = 2;
    if (pitr_storage_open(&j->cfg, &st, &e2) != PITR_OK) {
        if (j->kind == JOB_RETENTION) {
            j->retention_ran = 1;
            j->retention_rc = e2.code;
            j->retention_err = e2;
        }
        goto out;
    }
    if (j->policy != NULL && !j->cancel)
        run_retention(j, st);
    /* the facts after retention, so removed backups are gone from them */
    (void)catalog_facts(j, st, &e2);
out:
    pitr_storage_free(st);
    j->done = 1;
    return NULL;
}

pitr_rc job_start(struct job *j, struct pitr_err *err)
{
    int r = pthread_create(&j->thread, NULL, job_main, j);

    if (r != 0)
        return pitr_err_set_errno(err, PITR_EGENERAL, r, "cannot start the job thread");
    return PITR_OK;
}

void job_join(struct job *j)
{
    pthread_join(j->thread, NULL);
}

void job_free(struct job *j)
{
    if (j == NULL)
        return;
    pitr_config_release(&j->cfg);
    pitr_free(j->cluster_key);
    pitr_free(j->backup_name);
    pitr_free(j->backup_conninfo);
    pitr_free(j->policy);
    pitr_free(j->ids);
    pitr_free(j);
}
