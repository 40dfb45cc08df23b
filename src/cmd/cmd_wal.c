/* cmd_wal.c - the wal-push and wal-fetch commands. */
#include <stdio.h>
#include <string.h>

#include "pgpitr/archive/archive.h"
#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

/*
 * barman-cloud takes "REPO_URL SERVER" before its own positionals; accept
 * that form too, so existing archive_command lines keep working.
 */
static int take_repo_positionals(const char *cmd,
                                 struct pitr_config *cfg,
                                 int *argc,
                                 char ***argv,
                                 int want)
{
    struct pitr_err perr = { 0 };
    int npos = 0;

    /* wal-push and wal-fetch have no options of their own. */
    if (pitr_args_parse(cmd, *argc, *argv, NULL, 0, *argv, &npos, &perr) != PITR_OK) {
        pitr_log_error("%s", perr.msg);
        return PITR_EUSAGE;
    }
    *argc = npos;
    if (*argc == want + 2) {
        struct pitr_err err = { 0 };

        if (pitr_config_set(cfg, "repo", (*argv)[0], &err) != PITR_OK ||
            pitr_config_set(cfg, "server", (*argv)[1], &err) != PITR_OK)
            return PITR_EUSAGE;
        *argc -= 2;
        *argv += 2;
    }
    if (*argc != want) {
        pitr_log_error("%s: expected %s; see 'pgpitr help %s'",
                       cmd,
                       want == 1 ? "one WAL_PATH argument" : "WAL_NAME and DEST_PATH",
                       cmd);
        return PITR_EUSAGE;
    }
    return PITR_OK;
}

static int open_repo(const char *cmd, const struct pitr_config *cfg, struct pitr_storage **st)
{
    struct pitr_err err = { 0 };
    pitr_rc rc;

    if (cfg->server == NULL || cfg->server[0] == '\0' || strchr(cfg->server, '/') != NULL) {
        pitr_log_error("%s: %s",
                       cmd,
                       cfg->server ? "server name must not contain '/'"
                                   : "no server name: set --server or PGPITR_SERVER");
        return PITR_EUSAGE;
    }
    rc = pitr_storage_open(cfg, st, &err);
    if (rc != PITR_OK)
        pitr_log_error("%s: %s", cmd, err.msg);
    return rc;
}

/* A shallow copy whose repo/server fields may be replaced by positionals. */
static void copy_config(struct pitr_config *dst, const struct pitr_config *src)
{
    pitr_config_init(dst);
    dst->repo = pitr_strdup(src->repo);
    dst->server = pitr_strdup(src->server);
    dst->compression = pitr_strdup(src->compression);
    dst->endpoint_url = pitr_strdup(src->endpoint_url);
    dst->region = pitr_strdup(src->region);
    dst->ca_file = pitr_strdup(src->ca_file);
    dst->access_key = pitr_strdup(src->access_key);
    dst->secret_key = pitr_strdup(src->secret_key);
    dst->session_token = pitr_strdup(src->session_token);
    dst->url_style = src->url_style;
    dst->log_level = src->log_level;
    dst->jobs = src->jobs;
    dst->look_ahead = src->look_ahead;
}

int pitr_cmd_wal_push(const struct pitr_config *cfg_in, int argc, char **argv)
{
    struct pitr_config cfg;
    struct pitr_storage *st = NULL;
    struct pitr_push_batch_opts o = { 0 };
    struct pitr_err err = { 0 };
    enum pitr_push_outcome outcome;
    int rc;

    copy_config(&cfg, cfg_in);
    rc = take_repo_positionals("wal-push", &cfg, &argc, &argv, 1);
    if (rc != PITR_OK) {
        goto out;
    }
    rc = pitr_codec_from_name(cfg.compression, &o.push.codec, &err);
    if (rc != PITR_OK) {
        pitr_log_error("wal-push: %s", err.msg);
        goto out;
    }
    /* Fail early on a bad repository; workers open their own handles. */
    rc = open_repo("wal-push", &cfg, &st);
    if (rc != PITR_OK)
        goto out;
    o.push.server = cfg.server;
    o.look_ahead = cfg.look_ahead;
    o.jobs = cfg.jobs;
    rc = pitr_wal_push_batch(&cfg, &o, argv[0], &outcome, &err);
    if (rc != PITR_OK)
        pitr_log_error("wal-push '%s': %s", argv[0], err.msg);
out:
    pitr_storage_free(st);
    pitr_config_release(&cfg);
    return rc;
}

int pitr_cmd_wal_fetch(const struct pitr_config *cfg_in, int argc, char **argv)
{
    struct pitr_config cfg;
    struct pitr_storage *st = NULL;
    struct pitr_err err = { 0 };
    int rc;

    copy_config(&cfg, cfg_in);
    rc = take_repo_positionals("wal-fetch", &cfg, &argc, &argv, 2);
    if (rc != PITR_OK) {
        goto out;
    }
    rc = open_repo("wal-fetch", &cfg, &st);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_wal_fetch(st, cfg.server, argv[0], argv[1], &err);
    if (rc == PITR_ENOTFOUND)
        pitr_log_info("wal-fetch: %s", err.msg);
    else if (rc != PITR_OK)
        pitr_log_error("wal-fetch '%s': %s", argv[0], err.msg);
out:
    pitr_storage_free(st);
    pitr_config_release(&cfg);
    return rc;
}
