/* cmd_backup.c - the backup command: options, signals, progress, summary. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/backup/backup.h"
#include "pgpitr/backup/info.h"
#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

static volatile sig_atomic_t cancelled;

static void on_signal(int sig)
{
    (void)sig;
    cancelled = 1;
}

static void print_json(const struct pitr_backup_result *res, const char *name)
{
    json_t *j;
    char *text;

    json_set_alloc_funcs(pitr_malloc, pitr_free);
    j = json_object();

    json_object_set_new(j, "backup_id", json_string(res->backup_id));
    json_object_set_new(j, "backup_name", name ? json_string(name) : json_null());
    json_object_set_new(j, "status", json_string(res->status[0] ? res->status : "FAILED"));
    json_object_set_new(
      j, "begin_wal", res->begin_wal[0] ? json_string(res->begin_wal) : json_null());
    json_object_set_new(j, "end_wal", res->end_wal[0] ? json_string(res->end_wal) : json_null());
    json_object_set_new(j, "bytes", json_integer((json_int_t)res->bytes));
    json_object_set_new(j, "stored_bytes", json_integer((json_int_t)res->stored_bytes));
    json_object_set_new(j, "volumes", json_integer(res->volumes));
    json_object_set_new(j, "seconds", json_real(res->seconds));
    text = json_dumps(j, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (text != NULL) {
        printf("%s\n", text);
        pitr_free(text);
    }
}

int pitr_cmd_backup(const struct pitr_config *cfg_in, int argc, char **argv)
{
    const char *pgdata = NULL, *dbname = NULL, *jobs = NULL, *max_size = NULL, *name = NULL;
    const char *wait = NULL, *method = NULL, *min_chunk = NULL;
    int immediate = 0, want_json = 0, npos = 0, rc;
    const struct pitr_opt opts[] = {
        { "pgdata", 'D', 1, &pgdata, NULL, NULL },
        { "dbname", 'd', 1, &dbname, NULL, NULL },
        { "immediate-checkpoint", 0, 0, NULL, &immediate, NULL },
        { "jobs", 'J', 1, &jobs, NULL, NULL },
        { "max-archive-size", 'S', 1, &max_size, NULL, NULL },
        { "name", 'n', 1, &name, NULL, NULL },
        { "wal-wait-timeout", 0, 1, &wait, NULL, NULL },
        { "json", 0, 0, NULL, &want_json, NULL },
        { "method", 0, 1, &method, NULL, NULL },
        { "min-chunk-size", 0, 1, &min_chunk, NULL, NULL },
    };
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    /*
     * A shallow copy, so "REPO_URL SERVER" positionals can replace repo and
     * server while every other setting (S3 options included) stays as given.
     * It owns nothing: never released.
     */
    struct pitr_config cfg = *cfg_in;
    struct pitr_backup_opts o;
    struct pitr_backup_result res;
    struct pitr_err err = { 0 };
    struct sigaction sa;

    memset(&o, 0, sizeof(o));
    memset(&res, 0, sizeof(res));
    rc =
      pitr_args_parse("backup", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, &npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    if (npos == 2) {
        cfg.repo = pos[0];
        cfg.server = pos[1];
    } else if (npos != 0) {
        pitr_log_error(
          "backup: expected no arguments, or REPO_URL SERVER; see 'pgpitr help backup'");
        rc = PITR_EUSAGE;
        goto out;
    }
    if (method == NULL)
        method = cfg.method; /* config file key or PGPITR_METHOD */
    if (method == NULL || strcmp(method, "auto") == 0) {
        o.method = PITR_BACKUP_AUTO;
    } else if (strcmp(method, "local") == 0) {
        o.method = PITR_BACKUP_LOCAL;
    } else if (strcmp(method, "stream") == 0) {
        o.method = PITR_BACKUP_STREAM;
    } else {
        pitr_log_error("backup: unknown --method '%s': use local or stream", method);
        rc = PITR_EUSAGE;
        goto out;
    }
    if (min_chunk != NULL) {
        uint64_t v = 0;

        if (pitr_parse_size(min_chunk, &v, &err) != PITR_OK || v > PITR_PART_SIZE_MAX) {
            pitr_log_error("backup: --min-chunk-size '%s': %s",
                           min_chunk,
                           err.msg[0] ? err.msg : "more than S3's 5 GiB part limit");
            rc = PITR_EUSAGE;
            goto out;
        }
        /*
         * barman-cloud-backup's part size is max(its estimate, the
         * provider's minimum, --min-chunk-size); ours starts at --part-size
         * and grows, so the option raises the first part size.
         */
        if (v > cfg.part_size)
            cfg.part_size = v;
    }
    if (pitr_config_require_repo(&cfg, &err) != PITR_OK) {
        pitr_log_error("backup: %s", err.msg);
        rc = PITR_EUSAGE;
        goto out;
    }
    o.cfg = &cfg;
    o.pgdata = pgdata;
    o.conninfo = dbname;
    o.immediate_checkpoint = immediate > 0;
    o.jobs = cfg.jobs > 0 ? cfg.jobs : 2;
    o.max_archive_size = PITR_BACKUP_DEFAULT_MAX_ARCHIVE;
    o.wal_wait_timeout = PITR_BACKUP_DEFAULT_WAL_WAIT;
    o.name = name;
    o.progress = isatty(STDERR_FILENO) && !want_json;
    o.cancel = &cancelled;
    if (jobs != NULL && pitr_args_int("backup", "--jobs", jobs, 1, 64, &o.jobs) != PITR_OK) {
        rc = PITR_EUSAGE;
        goto out;
    }
    if (wait != NULL &&
        pitr_args_int("backup", "--wal-wait-timeout", wait, 0, 86400, &o.wal_wait_timeout) !=
          PITR_OK) {
        rc = PITR_EUSAGE;
        goto out;
    }
    if (max_size != NULL && pitr_parse_size(max_size, &o.max_archive_size, &err) != PITR_OK) {
        pitr_log_error("backup: --max-archive-size: %s", err.msg);
        rc = PITR_EUSAGE;
        goto out;
    }
    if (name != NULL && pitr_backup_check_name(name, &err) != PITR_OK) {
        pitr_log_error("backup: --name: %s", err.msg);
        rc = PITR_EUSAGE;
        goto out;
    }

    /* SIGINT/SIGTERM: stop cleanly, abort the open volume, write FAILED. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = pitr_backup_run(&o, &res, &err);
    if (rc != PITR_OK) {
        if (res.backup_id[0] != '\0')
            pitr_log_error("backup %s failed%s: %s",
                           res.backup_id,
                           strcmp(res.status, "FAILED") == 0 ? " (backup.info says FAILED)" : "",
                           err.msg);
        else
            pitr_log_error("backup: %s", err.msg);
    } else if (!want_json) {
        pitr_log_info("backup %s: DONE, %.1f MiB in %.1f s",
                      res.backup_id,
                      (double)res.bytes / 1048576.0,
                      res.seconds);
    }
    if (want_json)
        print_json(&res, name);
out:
    pitr_free(pos);
    return rc;
}
