/* cmd_walrecv.c - the wal-receive command: options, signals; the engine is walrecv/. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/walrecv/walrecv.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int parse_bool(const char *opt, const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0 ||
        strcmp(v, "yes") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "off") == 0 || strcmp(v, "0") == 0 ||
             strcmp(v, "no") == 0)
        *out = 0;
    else {
        pitr_log_error("wal-receive: setting '%s' needs true or false, not '%s'", opt, v);
        return PITR_EUSAGE;
    }
    return PITR_OK;
}

int pitr_cmd_wal_receive(const struct pitr_config *cfg_in, int argc, char **argv)
{
    const char *slot = NULL, *dbname = NULL, *spool = NULL, *interval = NULL, *sync_ms = NULL;
    const char *sync_bytes = NULL, *appname = NULL, *attempts = NULL;
    int create_slot = 0, synchronous = 0, npos = 0, rc;
    const struct pitr_opt opts[] = {
        { "slot", 'S', 1, &slot, NULL, NULL },
        { "create-slot", 0, 0, NULL, &create_slot, NULL },
        { "dbname", 'd', 1, &dbname, NULL, NULL },
        { "spool-dir", 0, 1, &spool, NULL, NULL },
        { "partial-interval", 0, 1, &interval, NULL, NULL },
        { "synchronous", 0, 0, NULL, &synchronous, NULL },
        { "sync-interval-ms", 0, 1, &sync_ms, NULL, NULL },
        { "sync-bytes", 0, 1, &sync_bytes, NULL, NULL },
        { "application-name", 0, 1, &appname, NULL, NULL },
        { "max-attempts", 0, 1, &attempts, NULL, NULL },
    };
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    /* A shallow copy (owns nothing): positionals may replace repo and server. */
    struct pitr_config cfg = *cfg_in;
    struct pitr_walrecv_opts o;
    struct pitr_err err = { 0 };
    struct sigaction sa;
    char *spool_owned = NULL;

    memset(&o, 0, sizeof(o));
    rc = pitr_args_parse(
      "wal-receive", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, &npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    if (npos == 2) {
        cfg.repo = pos[0];
        cfg.server = pos[1];
    } else if (npos != 0) {
        pitr_log_error("wal-receive: expected no arguments, or REPO_URL SERVER; see 'pgpitr help "
                       "wal-receive'");
        rc = PITR_EUSAGE;
        goto out;
    }
    rc = pitr_config_require_repo(&cfg, &err);
    if (rc != PITR_OK) {
        pitr_log_error("wal-receive: %s", err.msg);
        goto out;
    }
    /* Command-line options win over the config file and PGPITR_* variables. */
    o.slot = slot ? slot : cfg.slot ? cfg.slot : PITR_WALRECV_SLOT_DEFAULT;
    o.conninfo = dbname ? dbname : cfg.dbname;
    o.application_name = appname                ? appname
                         : cfg.application_name ? cfg.application_name
                                                : PITR_WALRECV_APPNAME_DEFAULT;
    if (spool == NULL)
        spool = cfg.wal_receive_spool_dir;
    if (spool == NULL)
        spool = spool_owned = pitr_asprintf("%s/%s", PITR_WALRECV_SPOOL_ROOT, cfg.server);
    o.spool_dir = spool;
    o.server = cfg.server;
    if (!create_slot && cfg.create_slot != NULL &&
        (rc = parse_bool("create-slot", cfg.create_slot, &create_slot)) != PITR_OK)
        goto out;
    if (!synchronous && cfg.synchronous != NULL &&
        (rc = parse_bool("synchronous", cfg.synchronous, &synchronous)) != PITR_OK)
        goto out;
    o.create_slot = create_slot > 0;
    o.synchronous = synchronous > 0;
    o.partial_interval = PITR_WALRECV_PARTIAL_INTERVAL;
    if (interval == NULL)
        interval = cfg.partial_interval;
    rc = pitr_args_int("wal-receive", "partial-interval", interval, 1, 86400, &o.partial_interval);
    if (rc != PITR_OK)
        goto out;
    o.sync_interval_ms = PITR_WALRECV_SYNC_INTERVAL_MS;
    if (sync_ms == NULL)
        sync_ms = cfg.sync_interval_ms;
    rc = pitr_args_int("wal-receive", "sync-interval-ms", sync_ms, 1, 60000, &o.sync_interval_ms);
    if (rc != PITR_OK)
        goto out;
    o.sync_bytes = PITR_WALRECV_SYNC_BYTES;
    if (sync_bytes == NULL)
        sync_bytes = cfg.sync_bytes;
    if (sync_bytes != NULL) {
        rc = pitr_config_parse_size("sync-bytes", sync_bytes, &o.sync_bytes, &err);
        if (rc == PITR_OK && (o.sync_bytes < 8192 || o.sync_bytes > ((uint64_t)1 << 30)))
            rc = pitr_err_set(&err, PITR_EUSAGE, "sync-bytes must be from 8KiB to 1GiB");
        if (rc != PITR_OK) {
            pitr_log_error("wal-receive: %s", err.msg);
            goto out;
        }
    }
    rc = pitr_args_int("wal-receive", "max-attempts", attempts, 0, 1000000, &o.max_attempts);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_codec_from_name(cfg.compression, &o.codec, &err);
    if (rc != PITR_OK) {
        pitr_log_error("wal-receive: %s", err.msg);
        goto out;
    }
    stop_requested = 0;
    o.stop = &stop_requested;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: a wait ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    rc = pitr_walrecv_run(&cfg, &o, &err);
    if (rc != PITR_OK)
        pitr_log_error("wal-receive: %s", err.msg);
    else
        pitr_log_info("wal-receive: stopped; everything received is stored");
out:
    pitr_free(spool_owned);
    pitr_free(pos);
    return rc;
}
