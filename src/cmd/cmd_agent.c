/* cmd_agent.c - the agent, get and describe commands (CloudNativePG manifests). */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgpitr/agent/agent.h"
#include "pgpitr/agent/cluster.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/agent/recover.h"
#include "pgpitr/agent/status.h"
#include "pgpitr/agent/views.h"
#include "pgpitr/backup/backup.h"
#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char *manifests_dir(const struct pitr_config *cfg, const char *opt)
{
    if (opt != NULL)
        return opt;
    return cfg->manifests != NULL ? cfg->manifests : PITR_AGENT_DEFAULT_MANIFESTS;
}

int pitr_cmd_agent(const struct pitr_config *cfg, int argc, char **argv)
{
    const char *manifests = NULL, *state = NULL, *dbname = NULL, *pgdata = NULL;
    const char *ret_every = NULL, *ret_retry = NULL, *tries = NULL, *wait = NULL, *walwait = NULL;
    const char *instance = NULL, *peer = NULL, *hb = NULL, *ttl = NULL;
    const char *bin = NULL, *restart = NULL;
    const char *start_cmd = NULL, *rec_wait = NULL; /* recover */
    const char *metrics_listen = NULL;
    int once = 0, npos = 0, rc;
    const struct pitr_opt opts[] = {
        { "manifests", 0, 1, &manifests, NULL, NULL },
        { "state-dir", 0, 1, &state, NULL, NULL },
        { "dbname", 'd', 1, &dbname, NULL, NULL },
        { "pgdata", 'D', 1, &pgdata, NULL, NULL },
        { "once", 0, 0, NULL, &once, NULL },
        { "retention-interval", 0, 1, &ret_every, NULL, NULL },
        { "retention-retry", 0, 1, &ret_retry, NULL, NULL },
        { "archive-check-tries", 0, 1, &tries, NULL, NULL },
        { "archive-check-wait", 0, 1, &wait, NULL, NULL },
        { "wal-wait-timeout", 0, 1, &walwait, NULL, NULL },
        { "instance-name", 0, 1, &instance, NULL, NULL },
        { "peer-conninfo", 0, 1, &peer, NULL, NULL },
        { "heartbeat-interval", 0, 1, &hb, NULL, NULL },
        { "lease-ttl", 0, 1, &ttl, NULL, NULL },
        { "pgpitr-bin", 0, 1, &bin, NULL, NULL },
        { "restart-policy", 0, 1, &restart, NULL, NULL },
        { "start-command", 0, 1, &start_cmd, NULL, NULL },
        { "recovery-wait", 0, 1, &rec_wait, NULL, NULL },
        { "metrics-listen", 0, 1, &metrics_listen, NULL, NULL },
    };
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    struct pitr_agent_opts o;
    struct pitr_err err = { 0 };
    struct sigaction sa;

    memset(&o, 0, sizeof(o));
    rc =
      pitr_args_parse("agent", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, &npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    if (npos != 0) {
        pitr_log_error("agent: expected no arguments; see 'pgpitr help agent'");
        rc = PITR_EUSAGE;
        goto out;
    }
    o.cfg = cfg;
    o.manifests = manifests_dir(cfg, manifests);
    o.state_dir = state != NULL ? state : PITR_AGENT_DEFAULT_STATE;
    o.conninfo = dbname != NULL ? dbname : cfg->dbname;
    o.pgdata = pgdata;
    o.once = once > 0;
    o.retention_every = PITR_AGENT_RETENTION_EVERY;
    o.retention_retry = PITR_AGENT_RETENTION_RETRY;
    o.archive_check_tries = 10;
    o.archive_check_wait = 6;
    o.wal_wait_timeout = PITR_BACKUP_DEFAULT_WAL_WAIT;
    o.stop = &stop_flag;
    o.start_command = start_cmd != NULL ? start_cmd : cfg->start_command;
    o.recovery_wait = PITR_RECOVER_DEFAULT_WAIT;
    if (pitr_args_int("agent", "--recovery-wait", rec_wait, 1, 86400, &o.recovery_wait)) {
        rc = PITR_EUSAGE;
        goto out;
    }
    o.metrics_listen = metrics_listen != NULL ? metrics_listen : cfg->metrics_listen;
    o.stats_file = cfg->stats_file;
    if (pitr_args_int(
          "agent", "--retention-interval", ret_every, 1, 86400 * 31, &o.retention_every) ||
        pitr_args_int("agent", "--retention-retry", ret_retry, 1, 86400, &o.retention_retry) ||
        pitr_args_int("agent", "--archive-check-tries", tries, 1, 100, &o.archive_check_tries) ||
        pitr_args_int("agent", "--archive-check-wait", wait, 0, 3600, &o.archive_check_wait) ||
        pitr_args_int("agent", "--wal-wait-timeout", walwait, 0, 86400, &o.wal_wait_timeout)) {
        rc = PITR_EUSAGE;
        goto out;
    }
    /* cluster: flags over the config file's keys */
    o.instance = instance != NULL ? instance : cfg->instance_name;
    o.peer_conninfo = peer != NULL ? peer : cfg->peer_conninfo;
    o.heartbeat_interval = PITR_CLUSTER_DEFAULT_HB;
    o.lease_ttl = PITR_CLUSTER_DEFAULT_TTL;
    if (pitr_args_int("agent",
                      "--heartbeat-interval",
                      hb != NULL ? hb : cfg->heartbeat_interval,
                      1,
                      3600,
                      &o.heartbeat_interval) ||
        pitr_args_int(
          "agent", "--lease-ttl", ttl != NULL ? ttl : cfg->lease_ttl, 2, 86400, &o.lease_ttl)) {
        rc = PITR_EUSAGE;
        goto out;
    }
    if (o.instance != NULL) {
        if (pitr_cluster_check_name(o.instance, &err) != PITR_OK ||
            (o.peer_conninfo != NULL &&
             pitr_cluster_check_conninfo(o.peer_conninfo, &err) != PITR_OK)) {
            pitr_log_error("agent: %s", err.msg);
            rc = PITR_EUSAGE;
            goto out;
        }
        if (o.lease_ttl <= o.heartbeat_interval) {
            pitr_log_error("agent: lease-ttl (%d s) must be longer than heartbeat-interval (%d s)",
                           o.lease_ttl,
                           o.heartbeat_interval);
            rc = PITR_EUSAGE;
            goto out;
        }
    }
    /* archconf: --pgpitr-bin and --restart-policy over the config keys */
    if (bin == NULL)
        bin = cfg->pgpitr_bin;
    if (restart == NULL)
        restart = cfg->restart_policy;
    if ((bin != NULL && bin[0] != '/') ||
        (restart != NULL && strcmp(restart, "never") != 0 && strcmp(restart, "always") != 0)) {
        pitr_log_error("agent: %s",
                       bin != NULL && bin[0] != '/' ? "--pgpitr-bin must be an absolute path"
                                                    : "--restart-policy must be never or always");
        rc = PITR_EUSAGE;
        goto out;
    }
    o.pgpitr_bin = bin;
    o.restart_policy = restart != NULL && strcmp(restart, "always") == 0;
    /* every event is one line: at least info */
    if (pitr_log_get_level() < PITR_LOG_INFO)
        pitr_log_set_level(PITR_LOG_INFO);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = pitr_agent_run(&o, &err);
    if (rc != PITR_OK)
        pitr_log_error("agent: %s", err.msg);
out:
    pitr_free(pos);
    return rc;
}

/*
 * The objects of every Cluster in the manifests: each Cluster's status
 * store (its local copy in state_dir when the store cannot be read, with a
 * warning). *items is a new array; *docs holds the documents (for events).
 */
static int collect(const struct pitr_config *cfg,
                   const char *dir_path,
                   const char *state_dir,
                   json_t **items,
                   json_t **docs)
{
    struct pitr_manifest_dir *dir = NULL;
    struct pitr_mf_set set;
    struct pitr_err err = { 0 };
    int changed = 0, rc;
    size_t i, k;

    memset(&set, 0, sizeof(set));
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    *items = json_array();
    *docs = json_array();
    rc = pitr_manifest_dir_new(dir_path, &dir, &err);
    if (rc == PITR_OK)
        rc = pitr_manifest_dir_poll(dir, &changed, &err);
    if (rc == PITR_OK)
        rc = pitr_manifest_dir_snapshot(dir, &set, &err);
    if (rc != PITR_OK) {
        pitr_log_error("manifests '%s': %s", dir_path, err.msg);
        goto out;
    }
    for (i = 0; i < set.n_clusters; i++) {
        const struct pitr_mf_cluster *c = &set.clusters[i];
        struct pitr_config ccfg;
        struct pitr_storage *st = NULL;
        struct pitr_err se = { 0 };
        const char *source = NULL;
        char local[4096], ca[4096];
        json_t *doc = NULL, *its;

        if (!c->has_store)
            continue;
        snprintf(local, sizeof(local), "%s/%s_%s.json", state_dir, c->meta.namespace, c->meta.name);
        snprintf(ca, sizeof(ca), "%s/%s_%s-ca.pem", state_dir, c->meta.namespace, c->meta.name);
        if (pitr_agent_cluster_config(cfg, c, ca, &ccfg, &err) == PITR_OK &&
            pitr_storage_open(&ccfg, &st, &err) != PITR_OK)
            st = NULL;
        if (pitr_status_load(st,
                             ccfg.server != NULL ? ccfg.server : c->meta.name,
                             local,
                             &doc,
                             &source,
                             &se,
                             &err) != PITR_OK) {
            pitr_log_warn("cluster '%s': %s", c->meta.name, err.msg);
        } else {
            if (se.code != PITR_OK)
                pitr_log_warn("cluster '%s': status store unreadable (%s); showing the %s copy",
                              c->meta.name,
                              se.msg,
                              source);
            its = pitr_status_items(doc);
            for (k = 0; k < json_array_size(its); k++)
                json_array_append(*items, json_array_get(its, k));
            json_array_append_new(*docs, doc);
        }
        pitr_storage_free(st);
        pitr_config_release(&ccfg);
    }
out:
    pitr_manifest_set_release(&set);
    pitr_manifest_dir_free(dir);
    return rc;
}

static int print_out(struct pitr_buf *b)
{
    fwrite(b->data, 1, b->len, stdout);
    return fflush(stdout) == 0 ? PITR_OK : PITR_EIO;
}

static int view_cmd(const char *cmd, const struct pitr_config *cfg, int argc, char **argv)
{
    const char *manifests = NULL, *state = NULL, *output = NULL, *kind;
    int npos = 0, rc;
    const struct pitr_opt opts[] = {
        { "manifests", 0, 1, &manifests, NULL, NULL },
        { "state-dir", 0, 1, &state, NULL, NULL },
        { "output", 'o', 1, &output, NULL, NULL },
    };
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    enum pitr_view_format fmt;
    json_t *items = NULL, *docs = NULL;
    struct pitr_buf out;
    struct pitr_err err = { 0 };
    int describe = strcmp(cmd, "describe") == 0;

    pitr_buf_init(&out, (size_t)64 * 1024 * 1024);
    rc = pitr_args_parse(cmd, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, &npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    if (npos != (describe ? 2 : 1)) {
        pitr_log_error("%s: expected %s; see 'pgpitr help %s'",
                       cmd,
                       describe ? "KIND NAME" : "clusters|scheduledbackups|backups",
                       cmd);
        rc = PITR_EUSAGE;
        goto out;
    }
    kind = pitr_views_kind(pos[0]);
    if (kind == NULL) {
        pitr_log_error(
          "%s: unknown kind '%s': use clusters, scheduledbackups or backups", cmd, pos[0]);
        rc = PITR_EUSAGE;
        goto out;
    }
    if (pitr_views_parse_output(output, &fmt) != 0) {
        pitr_log_error("%s: unknown --output '%s': use json or yaml", cmd, output);
        rc = PITR_EUSAGE;
        goto out;
    }
    rc = collect(cfg,
                 manifests_dir(cfg, manifests),
                 state != NULL ? state : PITR_AGENT_DEFAULT_STATE,
                 &items,
                 &docs);
    if (rc != PITR_OK)
        goto out;
    if (!describe) {
        rc = pitr_views_get(items, kind, fmt, (int64_t)time(NULL), &out, &err);
    } else {
        json_t *it = NULL, *events = NULL;
        size_t i;

        for (i = 0; i < json_array_size(docs) && it == NULL; i++) {
            it = pitr_status_find(json_array_get(docs, i), kind, pos[1]);
            if (it != NULL)
                events = pitr_status_events(json_array_get(docs, i), kind, pos[1]);
        }
        if (it == NULL) {
            pitr_log_error("describe: %s '%s' not found", kind, pos[1]);
            rc = PITR_ENOTFOUND;
            goto out;
        }
        rc = pitr_views_describe(it, events, fmt, (int64_t)time(NULL), &out, &err);
    }
    if (rc == PITR_OK)
        rc = print_out(&out);
    else
        pitr_log_error("%s: %s", cmd, err.msg);
out:
    json_decref(items);
    json_decref(docs);
    pitr_buf_release(&out);
    pitr_free(pos);
    return rc;
}

int pitr_cmd_get(const struct pitr_config *cfg, int argc, char **argv)
{
    return view_cmd("get", cfg, argc, argv);
}

int pitr_cmd_describe(const struct pitr_config *cfg, int argc, char **argv)
{
    return view_cmd("describe", cfg, argc, argv);
}
