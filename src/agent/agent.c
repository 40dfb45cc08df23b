/* agent.c - the reconciler loop of `pgpitr agent`; see agent/agent.h. */
#include "pgpitr/agent/agent.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "pgpitr/agent/archconf.h"
#include "pgpitr/agent/cluster.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/agent/metrics.h"
#include "pgpitr/agent/recover.h"
#include "pgpitr/agent/sched.h"
#include "pgpitr/agent/status.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/sched/cron.h"
#include "pgpitr/storage/storage.h"

#define POLL_EVERY 2 /* seconds between manifest polls */

#ifndef PITR_VERSION
#define PITR_VERSION "0.0.0"
#endif

/* A parsed schedule, kept while its spec string stays the same. */
struct sb_cron {
    char *key;  /* owned; "<ns>/<name>" */
    char *spec; /* owned */
    struct pitr_cron *cron;
    char *error; /* owned; the parse error, logged once */
    int no_schedule_logged;
};

/* One Cluster we act for. */
struct acluster {
    char *key;    /* owned; "<ns>/<name>" */
    char *ns;     /* owned */
    char *name;   /* owned */
    char *server; /* owned */
    struct pitr_config cfg;
    int have_cfg;
    char *cfg_error; /* owned; why there is no configuration (logged once) */
    char *sig;       /* owned; what the configuration was built from, to notice changes */
    struct pitr_storage *st;
    char *local_path; /* owned */
    json_t *doc;
    int dirty;       /* changed since the local copy was written */
    int store_dirty; /* changed since the store was written */
    int64_t next_store_try;
    int64_t next_retention;
    char *store_error; /* owned; last save failure, logged once */
    int seen;
    /* a cluster of agents (instance-name set) */
    int leading;                    /* we hold the lease and loaded the store */
    int64_t lead_since;             /* when it became leader */
    struct pitr_lease lease;        /* the lease we wrote last */
    struct pitr_instance_rec *recs; /* owned; the heartbeat records the leader read last */
    size_t nrecs;
    json_t *notes; /* what was logged once (malformed keys, split-brain peers) */
    /* metrics on a follower: a read-only copy of the leader's status.json */
    json_t *view;
    int64_t next_view;
};

struct agent {
    const struct pitr_agent_opts *o;
    struct pitr_manifest_dir *dir;
    struct pitr_mf_set set;
    int have_set;
    struct acluster *cl;
    size_t ncl;
    struct sb_cron *crons;
    size_t ncrons;
    struct job *job;
    char session[320];
    char host[128];
    int64_t last_poll;
    /* a cluster of agents (instance-name set) */
    struct node_state node; /* the local server at the last heartbeat */
    int have_node;
    int64_t next_hb;
    char boot_id[40];
    struct pitr_archconf *archconf; /* archconf: archiving on the local server */
    struct pitr_recover *rec;       /* recover: bootstrap.recovery (agent/recover.h) */
    struct pitr_metrics *metrics;   /* metrics: NULL when off */
};

static int cluster_mode(const struct agent *a);
static int agent_leads(const struct agent *a);
static int cluster_led(const struct agent *a, const struct acluster *c);
static int lease_confirm(struct agent *a, struct acluster *c);
static int executor_alive(const struct agent *a, const struct acluster *c, json_t *b);
static void read_instances(struct agent *a, struct acluster *c);

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static char *keyof(const char *ns, const char *name)
{
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    pitr_buf_init(&b, 1024);
    if (pitr_buf_appendf(&b, &err, "%s/%s", ns, name) != PITR_OK)
        pitr_buf_reset(&b);
    return pitr_buf_detach(&b, NULL);
}

/* ---- cluster settings ---- */

static void set_str(char **f, const char *v)
{
    pitr_free(*f);
    *f = v != NULL ? pitr_strdup(v) : NULL;
}

static void wipe_str(char **f)
{
    if (*f != NULL)
        OPENSSL_cleanse(*f, strlen(*f));
    pitr_free(*f);
    *f = NULL;
}

static pitr_rc join_tags(char **list, size_t n, char **out, struct pitr_err *err)
{
    struct pitr_buf b;
    size_t i;
    pitr_rc rc = PITR_OK;

    pitr_buf_init(&b, 64 * 1024);
    for (i = 0; i < n && rc == PITR_OK; i++)
        rc = pitr_buf_appendf(&b, err, "%s%s", i ? "," : "", list[i]);
    if (rc != PITR_OK) {
        pitr_buf_release(&b);
        return rc;
    }
    *out = pitr_buf_detach(&b, NULL);
    return PITR_OK;
}

pitr_rc pitr_agent_cluster_config(const struct pitr_config *base,
                                  const struct pitr_mf_cluster *c,
                                  const char *ca_path,
                                  struct pitr_config *out,
                                  struct pitr_err *err)
{
    const struct pitr_mf_store *s = &c->store;
    char *tags = NULL;
    pitr_rc rc = PITR_OK;

    pitr_config_copy(out, base);
    if (!c->has_store) {
        rc = pitr_err_set(
          err, PITR_EUSAGE, "cluster '%s' has no spec.backup.barmanObjectStore", c->meta.name);
        goto out;
    }
    if (!s->resolved) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "cluster '%s': a Secret referenced by barmanObjectStore is missing "
                          "(see the manifest diagnostics)",
                          c->meta.name);
        goto out;
    }
    set_str(&out->repo, s->destination_path);
    set_str(&out->server, s->server_name != NULL ? s->server_name : c->meta.name);
    if (s->endpoint_url != NULL)
        set_str(&out->endpoint_url, s->endpoint_url);
    if (s->region != NULL)
        set_str(&out->region, s->region);
    if (s->inherit_iam_role || s->access_key_id != NULL) {
        set_str(&out->access_key, NULL);
        wipe_str(&out->secret_key);
        wipe_str(&out->session_token);
    }
    if (!s->inherit_iam_role && s->access_key_id != NULL) {
        out->access_key = pitr_strdup(s->access_key_id);
        out->secret_key = s->secret_access_key ? pitr_strdup(s->secret_access_key) : NULL;
        out->session_token = s->session_token ? pitr_strdup(s->session_token) : NULL;
    }
    /* barman-cloud-backup compresses nothing unless data.compression says so */
    set_str(&out->compression, s->data_compression != NULL ? s->data_compression : "none");
    if (s->data_encryption != NULL)
        set_str(&out->encryption, s->data_encryption);
    if (s->data_jobs > 0)
        out->jobs = s->data_jobs;
    if (s->n_tags > 0) {
        rc = join_tags(s->tags, s->n_tags, &tags, err);
        if (rc != PITR_OK)
            goto out;
        pitr_free(out->tags);
        out->tags = tags;
        tags = NULL;
    }
    if (s->n_history_tags > 0) {
        rc = join_tags(s->history_tags, s->n_history_tags, &tags, err);
        if (rc != PITR_OK)
            goto out;
        pitr_free(out->history_tags);
        out->history_tags = tags;
        tags = NULL;
    }
    if (s->endpoint_ca_pem != NULL && ca_path != NULL) {
        rc =
          pitr_fs_write_atomic(ca_path, s->endpoint_ca_pem, strlen(s->endpoint_ca_pem), 0600, err);
        if (rc != PITR_OK)
            goto out;
        set_str(&out->ca_file, ca_path);
    }
    rc = pitr_config_require_repo(out, err);
out:
    pitr_free(tags);
    return rc;
}

/* ---- objects in the status document ---- */

static json_t *labels_of(json_t *it)
{
    return json_object_get(json_object_get(it, "metadata"), "labels");
}

static const char *name_of(json_t *it)
{
    return pitr_status_str(json_object_get(it, "metadata"), "name");
}

static json_t *status_of(json_t *it)
{
    return json_object_get(it, "status");
}

static const char *phase_of(json_t *it)
{
    const char *p = pitr_status_str(status_of(it), "phase");

    return p != NULL ? p : "";
}

static int is_done(json_t *it)
{
    const char *p = phase_of(it);

    return strcmp(p, "completed") == 0 || strcmp(p, "failed") == 0;
}

static void set_phase(json_t *it, const char *phase)
{
    json_object_set_new(status_of(it), "phase", json_string(phase));
}

static void event(struct acluster *c,
                  const char *kind,
                  const char *name,
                  const char *type,
                  const char *reason,
                  const char *msg)
{
    pitr_status_event(c->doc, kind, name, type, reason, msg, now_s());
    c->dirty = 1;
}

static json_t *cluster_item(struct acluster *c)
{
    return pitr_status_ensure(c->doc, "Cluster", c->name, c->ns, now_s());
}

/* Mirror the Cluster's spec (no secrets: only where the backups go). */
static void mirror_cluster(struct acluster *c, const struct pitr_mf_cluster *m)
{
    json_t *it = cluster_item(c), *spec = json_object(), *bk = json_object(), *os = json_object();
    char *old, *new_text;

    json_object_set_new(os, "destinationPath", json_string(m->store.destination_path));
    if (m->store.endpoint_url != NULL)
        json_object_set_new(os, "endpointURL", json_string(m->store.endpoint_url));
    json_object_set_new(os, "serverName", json_string(c->server));
    if (m->store.data_compression != NULL)
        json_object_set_new(
          os, "data", json_pack("{s:s}", "compression", m->store.data_compression));
    json_object_set_new(bk, "barmanObjectStore", os);
    if (m->retention_policy != NULL)
        json_object_set_new(bk, "retentionPolicy", json_string(m->retention_policy));
    if (m->target != NULL)
        json_object_set_new(bk, "target", json_string(m->target));
    json_object_set_new(spec, "backup", bk);
    old = json_dumps(json_object_get(it, "spec"), JSON_SORT_KEYS | JSON_COMPACT);
    new_text = json_dumps(spec, JSON_SORT_KEYS | JSON_COMPACT);
    if (old == NULL || new_text == NULL || strcmp(old, new_text) != 0) {
        json_object_set(it, "spec", spec);
        c->dirty = 1;
    }
    pitr_free(old);
    pitr_free(new_text);
    json_decref(spec);
}

static void mirror_scheduled(struct acluster *c, const struct pitr_mf_scheduled *m)
{
    json_t *it =
      pitr_status_ensure(c->doc, "ScheduledBackup", m->meta.name, m->meta.namespace, now_s());
    json_t *spec = json_object();
    char *old, *new_text;

    json_object_set_new(spec, "cluster", json_pack("{s:s}", "name", m->cluster));
    json_object_set_new(spec, "schedule", json_string(m->schedule));
    json_object_set_new(spec, "suspend", json_boolean(m->suspend));
    json_object_set_new(spec, "immediate", json_boolean(m->immediate));
    json_object_set_new(spec,
                        "backupOwnerReference",
                        json_string(m->owner_reference != NULL ? m->owner_reference : "none"));
    json_object_set_new(
      spec, "method", json_string(m->method != NULL ? m->method : "barmanObjectStore"));
    if (m->target != NULL)
        json_object_set_new(spec, "target", json_string(m->target));
    old = json_dumps(json_object_get(it, "spec"), JSON_SORT_KEYS | JSON_COMPACT);
    new_text = json_dumps(spec, JSON_SORT_KEYS | JSON_COMPACT);
    if (old == NULL || new_text == NULL || strcmp(old, new_text) != 0) {
        json_object_set(it, "spec", spec);
        c->dirty = 1;
    }
    pitr_free(old);
    pitr_free(new_text);
    json_decref(spec);
}

/* A new Backup object in phase pending. labels/owner may be NULL (an on-demand one). */
static json_t *new_backup(struct acluster *c,
                          const char *name,
                          const char *ns,
                          const char *method,
                          const char *target,
                          json_t *labels,
                          json_t *owners)
{
    json_t *it = pitr_status_ensure(c->doc, "Backup", name, ns, now_s());
    json_t *md = json_object_get(it, "metadata"), *spec = json_object_get(it, "spec");

    if (labels != NULL)
        json_object_set(md, "labels", labels);
    if (owners != NULL)
        json_object_set(md, "ownerReferences", owners);
    json_object_set_new(spec, "cluster", json_pack("{s:s}", "name", c->name));
    json_object_set_new(spec, "method", json_string(method != NULL ? method : "barmanObjectStore"));
    if (target != NULL)
        json_object_set_new(spec, "target", json_string(target));
    set_phase(it, "pending");
    c->dirty = 1;
    return it;
}

/* ---- the schedule ---- */

static int64_t cron_next(const void *ctx, int64_t after)
{
    return pitr_cron_next((const struct pitr_cron *)ctx, after);
}

static struct sb_cron *cron_for(struct agent *a, const struct pitr_mf_scheduled *m)
{
    char *key = keyof(m->meta.namespace, m->meta.name);
    struct sb_cron *s = NULL;
    struct pitr_err err = { 0 };
    char *note = NULL;
    size_t i;

    for (i = 0; i < a->ncrons; i++)
        if (strcmp(a->crons[i].key, key) == 0)
            s = &a->crons[i];
    if (s == NULL) {
        a->crons = pitr_realloc(a->crons, (a->ncrons + 1) * sizeof(*a->crons));
        s = &a->crons[a->ncrons++];
        memset(s, 0, sizeof(*s));
        s->key = key;
        key = NULL;
    }
    pitr_free(key);
    if (s->spec != NULL && strcmp(s->spec, m->schedule) == 0)
        return s;
    pitr_cron_free(s->cron);
    s->cron = NULL;
    pitr_free(s->error);
    s->error = NULL;
    set_str(&s->spec, m->schedule);
    s->no_schedule_logged = 0;
    if (pitr_cron_parse(m->schedule, NULL, &s->cron, &note, &err) != PITR_OK) {
        s->error = pitr_strdup(err.msg);
        pitr_log_error("%s:%d: ScheduledBackup '%s': schedule '%s': %s",
                       m->schedule_loc.file != NULL ? m->schedule_loc.file : m->meta.loc.file,
                       m->schedule_loc.line > 0 ? m->schedule_loc.line : m->meta.loc.line,
                       m->meta.name,
                       m->schedule,
                       err.msg);
    } else if (note != NULL) {
        pitr_log_warn("%s:%d: ScheduledBackup '%s': %s",
                      m->schedule_loc.file != NULL ? m->schedule_loc.file : m->meta.loc.file,
                      m->schedule_loc.line > 0 ? m->schedule_loc.line : m->meta.loc.line,
                      m->meta.name,
                      note);
    }
    pitr_free(note);
    return s;
}

static void status_times(json_t *st, const struct pitr_sched_status *s)
{
    pitr_status_set_time(st, "lastCheckTime", s->last_check);
    pitr_status_set_time(st, "lastScheduleTime", s->last_schedule);
    pitr_status_set_time(st, "nextScheduleTime", s->next_schedule);
}

static void reconcile_scheduled(struct agent *a,
                                struct acluster *c,
                                const struct pitr_mf_scheduled *m)
{
    json_t *it, *st, *items;
    struct sb_cron *sc;
    struct pitr_sched_input in;
    struct pitr_sched_decision d;
    struct pitr_sched_backup *kids = NULL;
    enum pitr_sched_owner owner;
    size_t i, n = 0;
    char when[32], msg[512];
    int64_t now = now_s();

    mirror_scheduled(c, m);
    it = pitr_status_find(c->doc, "ScheduledBackup", m->meta.name);
    st = status_of(it);
    sc = cron_for(a, m);
    if (sc->cron == NULL) {
        if (pitr_status_str(st, "error") == NULL ||
            strcmp(pitr_status_str(st, "error"), sc->error) != 0) {
            json_object_set_new(st, "error", json_string(sc->error));
            c->dirty = 1;
        }
        return;
    }
    if (pitr_status_str(st, "error") != NULL) {
        json_object_del(st, "error");
        c->dirty = 1;
    }
    if (pitr_sched_owner_parse(m->owner_reference, &owner) != 0)
        owner = PITR_SCHED_OWNER_NONE;
    items = pitr_status_items(c->doc);
    kids = pitr_calloc(json_array_size(items) + 1, sizeof(*kids));
    for (i = 0; i < json_array_size(items); i++) {
        json_t *b = json_array_get(items, i), *lb = labels_of(b);
        const char *ns = pitr_status_str(json_object_get(b, "metadata"), "namespace");

        if (strcmp(pitr_status_str(b, "kind"), "Backup") != 0 || ns == NULL ||
            strcmp(ns, m->meta.namespace) != 0)
            continue;
        kids[n].name = name_of(b);
        kids[n].parent = pitr_status_str(lb, "cnpg.io/scheduled-backup");
        kids[n].immediate = pitr_status_str(lb, "cnpg.io/immediateBackup") != NULL &&
                            strcmp(pitr_status_str(lb, "cnpg.io/immediateBackup"), "true") == 0;
        kids[n].done = is_done(b);
        kids[n].created = pitr_status_time_parse(
          pitr_status_str(json_object_get(b, "metadata"), "creationTimestamp"));
        n++;
    }
    memset(&in, 0, sizeof(in));
    in.name = m->meta.name;
    in.suspend = m->suspend;
    in.immediate = m->immediate;
    in.status.last_check = pitr_status_time_parse(pitr_status_str(st, "lastCheckTime"));
    in.status.last_schedule = pitr_status_time_parse(pitr_status_str(st, "lastScheduleTime"));
    in.status.next_schedule = pitr_status_time_parse(pitr_status_str(st, "nextScheduleTime"));
    in.backups = kids;
    in.n_backups = n;
    in.next = cron_next;
    in.next_ctx = sc->cron;
    pitr_sched_decide(&in, now, &d);
    if (d.status_changed) {
        status_times(st, &d.status);
        c->dirty = 1;
    }
    switch (d.action) {
    case PITR_SCHED_FIRST_CHECK:
        pitr_status_time(d.requeue, when);
        snprintf(msg, sizeof(msg), "Scheduled first backup by %s", when);
        event(c, "ScheduledBackup", m->meta.name, "Normal", "BackupSchedule", msg);
        break;
    case PITR_SCHED_CREATE: {
        json_t *labels = json_object(), *owners = NULL;

        json_object_set_new(labels, "cnpg.io/cluster", json_string(c->name));
        json_object_set_new(
          labels, "cnpg.io/immediateBackup", json_string(d.immediate ? "true" : "false"));
        json_object_set_new(labels, "cnpg.io/scheduled-backup", json_string(m->meta.name));
        if (owner != PITR_SCHED_OWNER_NONE) {
            json_t *ref = json_object();

            json_object_set_new(ref, "apiVersion", json_string(PITR_STATUS_API_CNPG));
            json_object_set_new(
              ref,
              "kind",
              json_string(owner == PITR_SCHED_OWNER_SELF ? "ScheduledBackup" : "Cluster"));
            json_object_set_new(
              ref, "name", json_string(owner == PITR_SCHED_OWNER_SELF ? m->meta.name : c->name));
            if (owner == PITR_SCHED_OWNER_SELF && m->meta.uid != NULL)
                json_object_set_new(ref, "uid", json_string(m->meta.uid));
            json_object_set_new(ref, "controller", json_true());
            owners = json_array();
            json_array_append_new(owners, ref);
        }
        (void)new_backup(c, d.backup_name, m->meta.namespace, m->method, m->target, labels, owners);
        json_decref(labels);
        json_decref(owners);
        snprintf(msg, sizeof(msg), "Created Backup %s", d.backup_name);
        event(c, "ScheduledBackup", m->meta.name, "Normal", "BackupCreated", msg);
        pitr_status_time(d.status.next_schedule, when);
        snprintf(msg, sizeof(msg), "Next backup scheduled by %s", when);
        event(c, "ScheduledBackup", m->meta.name, "Normal", "BackupSchedule", msg);
        break;
    }
    case PITR_SCHED_ADOPT:
        snprintf(msg, sizeof(msg), "Adopted Backup %s left by an earlier run", d.backup_name);
        event(c, "ScheduledBackup", m->meta.name, "Normal", "BackupAdopted", msg);
        break;
    case PITR_SCHED_REFUSE:
        snprintf(msg, sizeof(msg), "Backup %s exists and is not ours: slot skipped", d.backup_name);
        event(c, "ScheduledBackup", m->meta.name, "Warning", "BackupAdoptionRefused", msg);
        break;
    case PITR_SCHED_NO_SCHEDULE:
        if (!sc->no_schedule_logged) {
            sc->no_schedule_logged = 1;
            event(c,
                  "ScheduledBackup",
                  m->meta.name,
                  "Warning",
                  "NoSchedule",
                  "the schedule has no next activation within five years");
        }
        break;
    default:
        break;
    }
    pitr_free(kids);
}

/* ---- metrics ---- */

/*
 * The status a follower's /metrics reads: the leader's status.json, read
 * again at most every 3 x heartbeat-interval (when a heartbeat record goes
 * stale), so every agent reports the cluster's backups, not only the leader.
 * NULL while it cannot be read (the last good copy is kept).
 */
static json_t *follower_view(struct agent *a, struct acluster *c)
{
    json_t *doc = NULL;
    const char *source = NULL;
    struct pitr_err se = { 0 }, e = { 0 };
    int64_t now = now_s();

    if (!cluster_mode(a) || c->leading || c->st == NULL || now < c->next_view)
        return c->view;
    c->next_view = now + (int64_t)PITR_CLUSTER_STALE_FACTOR * a->o->heartbeat_interval;
    if (pitr_status_load(c->st, c->server, NULL, &doc, &source, &se, &e) != PITR_OK ||
        se.code != PITR_OK) {
        pitr_log_debug("cluster '%s': metrics keep the last status read: %s",
                       c->name,
                       se.code != PITR_OK ? se.msg : e.msg);
        json_decref(doc);
        return c->view;
    }
    json_decref(c->view);
    c->view = doc;
    return c->view;
}

/* After each pass: what the status documents say, for /metrics. */
static void metrics_publish(struct agent *a)
{
    size_t i;

    if (a->metrics == NULL)
        return;
    pitr_metrics_set_leader(a->metrics, agent_leads(a));
    for (i = 0; i < a->ncl; i++) {
        struct acluster *c = &a->cl[i];
        json_t *cst, *ret, *doc = c->doc != NULL ? c->doc : follower_view(a, c);
        const char *res;

        if (doc == NULL)
            continue;
        cst = status_of(pitr_status_find(doc, "Cluster", c->name));
        pitr_metrics_set_backup_times(
          a->metrics,
          c->ns,
          c->name,
          pitr_status_time_parse(pitr_status_str(cst, "firstRecoverabilityPoint")),
          pitr_status_time_parse(pitr_status_str(cst, "lastSuccessfulBackup")),
          pitr_status_time_parse(pitr_status_str(cst, "lastFailedBackup")));
        pitr_metrics_set_in_progress(a->metrics,
                                     c->ns,
                                     c->name,
                                     a->job != NULL && a->job->kind == JOB_BACKUP &&
                                       strcmp(a->job->cluster_key, c->key) == 0);
        ret = json_object_get(cst, "retention");
        res = pitr_status_str(ret, "result");
        if (res != NULL)
            pitr_metrics_set_retention(a->metrics,
                                       c->ns,
                                       c->name,
                                       strcmp(res, "Succeeded") == 0,
                                       pitr_status_time_parse(pitr_status_str(ret, "lastRun")));
        if (c->have_cfg && !c->store_dirty)
            pitr_metrics_set_storage_up(a->metrics, c->ns, c->name, 1);
        else if (c->have_cfg && c->store_error != NULL)
            pitr_metrics_set_storage_up(a->metrics, c->ns, c->name, 0);
    }
}

/* A finished job: the backup's duration, and whether it failed on the store. */
static void metrics_job(struct agent *a, const struct acluster *c, const struct job *j)
{
    pitr_rc rc = j->rc != PITR_OK ? j->rc : j->retention_ran ? j->retention_rc : PITR_OK;
    pitr_rc code = j->rc != PITR_OK ? j->err.code : j->retention_err.code;

    if (a->metrics == NULL)
        return;
    if (j->kind == JOB_BACKUP && j->rc == PITR_OK && j->begin_time[0] && j->end_time[0])
        pitr_metrics_set_backup_duration(
          a->metrics,
          c->ns,
          c->name,
          (double)(pitr_status_time_parse(j->end_time) - pitr_status_time_parse(j->begin_time)));
    if (rc == PITR_OK)
        pitr_metrics_set_job_storage_up(a->metrics, c->ns, c->name, 1);
    else if (code == PITR_ENETWORK || code == PITR_EAUTH || code == PITR_ES3)
        pitr_metrics_set_job_storage_up(a->metrics, c->ns, c->name, 0);
}

/* ---- Backups ---- */

static void fail_backup(struct acluster *c, json_t *b, const char *reason, const char *msg)
{
    json_t *st = status_of(b), *cst = status_of(cluster_item(c));
    int64_t now = now_s();

    set_phase(b, "failed");
    json_object_set_new(st, "error", json_string(msg));
    json_object_set_new(st, "reason", json_string(reason));
    pitr_status_set_time(st, "reconciliationTerminatedAt", now);
    pitr_status_set_time(cst, "lastFailedBackup", now);
    pitr_status_condition(cst, "LastBackupSucceeded", "False", "LastBackupFailed", msg, now);
    event(c, "Backup", name_of(b), "Warning", reason, msg);
    event(c, "Cluster", c->name, "Warning", "LastBackupFailed", msg);
}

/* Backups of an agent session that is gone, and Backups past their phase's deadline. */
static void check_stale(struct agent *a, struct acluster *c)
{
    json_t *items = pitr_status_items(c->doc);
    int64_t now = now_s();
    size_t i;

    for (i = 0; i < json_array_size(items); i++) {
        json_t *b = json_array_get(items, i), *st = status_of(b);
        const char *phase = phase_of(b), *sess;
        int64_t since;
        char msg[512];

        if (strcmp(pitr_status_str(b, "kind"), "Backup") != 0 || is_done(b))
            continue;
        sess = pitr_status_str(json_object_get(st, "instanceID"), "sessionID");
        if ((strcmp(phase, "started") == 0 || strcmp(phase, "running") == 0) &&
            (a->job == NULL || a->job->backup_name == NULL ||
             strcmp(a->job->backup_name, name_of(b)) != 0) &&
            !executor_alive(a, c, b)) {
            const char *who = pitr_status_str(json_object_get(st, "instanceID"), "agentInstance");

            if (cluster_mode(a) && who != NULL && strcmp(who, a->o->instance) != 0)
                snprintf(msg,
                         sizeof(msg),
                         "the agent of instance %s that ran the backup stopped running it or its "
                         "heartbeat is stale (session %s)",
                         who,
                         sess != NULL ? sess : "unknown");
            else
                snprintf(msg,
                         sizeof(msg),
                         "the agent was restarted during the backup (session %s is gone)",
                         sess != NULL ? sess : "unknown");
            fail_backup(c, b, "AgentRestarted", msg);
            continue;
        }
        since = pitr_status_time_parse(pitr_status_str(st, "reconciliationStartedAt"));
        if (since == 0)
            since = pitr_status_time_parse(
              pitr_status_str(json_object_get(b, "metadata"), "creationTimestamp"));
        if (since != 0 && pitr_sched_deadline_passed(phase, since, now)) {
            snprintf(msg,
                     sizeof(msg),
                     "phase '%s' exceeded its deadline (since %lld s)",
                     phase[0] ? phase : "pending",
                     (long long)(now - since));
            if (a->job != NULL && a->job->backup_name != NULL &&
                strcmp(a->job->backup_name, name_of(b)) == 0)
                a->job->cancel = 1; /* recorded when the job returns */
            else
                fail_backup(c, b, "DeadlineExceeded", msg);
        }
    }
}

static int64_t ts_of(json_t *it)
{
    return pitr_status_time_parse(
      pitr_status_str(json_object_get(it, "metadata"), "creationTimestamp"));
}

/*
 * The Cluster's retentionPolicy, else the config file's retention-policy
 * (which may also be "REDUNDANCY n", a form CNPG's manifests cannot hold).
 */
static const char *policy_of(const struct agent *a, const struct pitr_mf_cluster *m)
{
    return m->retention_policy != NULL ? m->retention_policy : a->o->cfg->retention_policy;
}

static void start_backup(struct agent *a,
                         struct acluster *c,
                         json_t *b,
                         const struct pitr_mf_cluster *m)
{
    struct job *j;
    json_t *st = status_of(b), *inst;
    struct pitr_err err = { 0 };
    int64_t now = now_s();
    char msg[512];
    int chosen = -1;

    if (cluster_mode(a)) {
        const char *tgt = pitr_status_str(json_object_get(b, "spec"), "target");
        enum pitr_cluster_target t = PITR_TARGET_PREFER_STANDBY;
        struct pitr_repl_row rows[NODE_REPL_MAX];
        size_t i;

        if (!lease_confirm(a, c))
            return;           /* no longer the leader: the new one starts it */
        read_instances(a, c); /* the freshest records for the choice */
        if (pitr_cluster_target_parse(tgt != NULL ? tgt : m->target, &t) != 0)
            pitr_log_warn("Backup '%s': unknown target '%s': using prefer-standby",
                          name_of(b),
                          tgt != NULL ? tgt : m->target);
        for (i = 0; i < a->node.nrepl; i++) {
            rows[i].name = a->node.repl[i].name;
            rows[i].streaming = a->node.repl[i].streaming;
            rows[i].lag_bytes = a->node.repl[i].lag_bytes;
        }
        chosen = pitr_cluster_choose_target(
          t, c->recs, c->nrecs, rows, a->node.nrepl, now, a->o->heartbeat_interval);
    }
    j = pitr_calloc(1, sizeof(*j));
    inst = json_object();
    j->kind = JOB_BACKUP;
    pitr_config_copy(&j->cfg, &c->cfg);
    j->cluster_key = pitr_strdup(c->key);
    j->backup_name = pitr_strdup(name_of(b));
    j->policy = policy_of(a, m) != NULL ? pitr_strdup(policy_of(a, m)) : NULL;
    j->conninfo = a->o->conninfo;
    j->pgdata = a->o->pgdata;
    j->immediate_checkpoint = m->store.data_immediate_checkpoint;
    j->archive_check_tries = a->o->archive_check_tries;
    j->archive_check_wait = a->o->archive_check_wait;
    j->wal_wait_timeout = a->o->wal_wait_timeout;
    set_phase(b, "started");
    json_object_set_new(inst, "podName", json_string(a->host));
    json_object_set_new(inst, "ContainerID", json_string(""));
    json_object_set_new(inst, "sessionID", json_string(a->session));
    if (cluster_mode(a)) {
        /* the instance the data comes from; the agent (the leader) that runs it */
        json_object_set_new(
          inst, "podName", json_string(chosen >= 0 ? c->recs[chosen].instance : a->o->instance));
        json_object_set_new(inst, "pid", json_integer((json_int_t)getpid()));
        json_object_set_new(inst, "bootId", json_string(a->boot_id));
        json_object_set_new(inst, "agentInstance", json_string(a->o->instance));
        if (chosen >= 0)
            j->backup_conninfo = pitr_strdup(c->recs[chosen].conninfo);
    }
    json_object_set_new(st, "instanceID", inst);
    json_object_set_new(st, "method", json_string("barmanObjectStore"));
    json_object_set_new(st, "online", json_true());
    json_object_set_new(st, "destinationPath", json_string(c->cfg.repo));
    json_object_set_new(st, "serverName", json_string(c->server));
    if (c->cfg.endpoint_url != NULL)
        json_object_set_new(st, "endpointURL", json_string(c->cfg.endpoint_url));
    pitr_status_set_time(st, "reconciliationStartedAt", now);
    c->dirty = 1;
    if (!c->have_cfg) {
        job_free(j);
        fail_backup(c, b, "InvalidBackupDefinition", c->cfg_error ? c->cfg_error : "no settings");
        return;
    }
    if (job_start(j, &err) != PITR_OK) {
        job_free(j);
        fail_backup(c, b, "BackupFailed", err.msg);
        return;
    }
    a->job = j;
    if (cluster_mode(a))
        snprintf(msg,
                 sizeof(msg),
                 "Starting backup for cluster %s on instance %s (%s)",
                 c->name,
                 chosen >= 0 ? c->recs[chosen].instance : a->o->instance,
                 chosen >= 0 ? "a streaming standby, least replay lag" : "the primary");
    else
        snprintf(msg, sizeof(msg), "Starting backup for cluster %s", c->name);
    event(c, "Backup", name_of(b), "Normal", "Starting", msg);
    pitr_status_condition(status_of(cluster_item(c)),
                          "LastBackupSucceeded",
                          "False",
                          "BackupStarted",
                          "New Backup starting up",
                          now);
}

static int id_present(const struct job *j, const char *id)
{
    return bsearch(
             id, j->ids, j->nids, sizeof(j->ids[0]), (int (*)(const void *, const void *))strcmp) !=
           NULL;
}

/* After a catalog load: cluster facts, and Backups whose backupId left the repository. */
static void apply_catalog(struct acluster *c, const struct job *j)
{
    json_t *cst = status_of(cluster_item(c)), *items = pitr_status_items(c->doc);
    int64_t now = now_s();
    size_t i;

    if (!j->have_ids)
        return;
    pitr_status_set_time(cst, "firstRecoverabilityPoint", j->first_recoverability);
    pitr_status_set_time(cst, "lastSuccessfulBackup", j->last_successful);
    for (i = 0; i < json_array_size(items); i++) {
        json_t *b = json_array_get(items, i), *md = json_object_get(b, "metadata"), *ann;
        const char *id = pitr_status_str(status_of(b), "backupId");
        char msg[256];

        if (strcmp(pitr_status_str(b, "kind"), "Backup") != 0 || id == NULL ||
            strcmp(phase_of(b), "completed") != 0 || id_present(j, id))
            continue;
        ann = json_object_get(md, "annotations");
        if (pitr_status_str(ann, "pgpitr.io/backup-removed") != NULL)
            continue;
        if (!json_is_object(ann)) {
            ann = json_object();
            json_object_set_new(md, "annotations", ann);
        }
        pitr_status_set_time(ann, "pgpitr.io/backup-removed", now);
        snprintf(msg, sizeof(msg), "backup %s is no longer in the repository", id);
        event(c, "Backup", name_of(b), "Normal", "BackupRemoved", msg);
    }
    c->dirty = 1;
}

static void apply_retention(struct agent *a, struct acluster *c, const struct job *j)
{
    json_t *cst = status_of(cluster_item(c)), *r = json_object();
    int64_t now = now_s();
    char msg[PITR_ERR_MSG_MAX + 128];

    if (!j->retention_ran)
        return;
    json_object_set_new(r, "policy", json_string(j->policy_text[0] ? j->policy_text : j->policy));
    pitr_status_set_time(r, "lastRun", now);
    if (j->retention_rc == PITR_OK) {
        snprintf(msg,
                 sizeof(msg),
                 "removed %zu backups, %zu objects and %zu WAL files",
                 j->retention.backups_removed,
                 j->retention.objects_removed,
                 j->retention.wals_removed);
        json_object_set_new(r, "result", json_string("Succeeded"));
        json_object_set_new(r, "message", json_string(msg));
        json_object_set_new(
          r, "backupsRemoved", json_integer((json_int_t)j->retention.backups_removed));
        json_object_set_new(r, "walsRemoved", json_integer((json_int_t)j->retention.wals_removed));
        c->next_retention = now + a->o->retention_every;
        event(c, "Cluster", c->name, "Normal", "RetentionApplied", msg);
    } else {
        snprintf(msg, sizeof(msg), "retention failed: %s", j->retention_err.msg);
        json_object_set_new(r, "result", json_string("Failed"));
        json_object_set_new(r, "message", json_string(msg));
        c->next_retention = now + a->o->retention_retry;
        event(c, "Cluster", c->name, "Warning", "RetentionFailed", msg);
    }
    pitr_status_set_time(r, "nextRun", c->next_retention);
    json_object_set_new(cst, "retention", r);
    c->dirty = 1;
}

static void finish_job(struct agent *a)
{
    struct job *j = a->job;
    struct acluster *c = NULL;
    json_t *b;
    size_t i;
    int64_t now = now_s();

    job_join(j);
    a->job = NULL;
    for (i = 0; i < a->ncl; i++)
        if (strcmp(a->cl[i].key, j->cluster_key) == 0)
            c = &a->cl[i];
    if (c == NULL || c->doc == NULL)
        goto out;
    metrics_job(a, c, j); /* metrics */
    if (j->kind == JOB_RETENTION) {
        apply_retention(a, c, j);
        apply_catalog(c, j);
        goto out;
    }
    b = pitr_status_find(c->doc, "Backup", j->backup_name);
    if (b == NULL)
        goto out;
    if (j->rc != PITR_OK) {
        json_t *cst = status_of(cluster_item(c));

        if (j->res.backup_id[0] != '\0')
            json_object_set_new(status_of(b), "backupId", json_string(j->res.backup_id));
        if (j->wal_failing) {
            pitr_status_condition(
              cst, "ContinuousArchiving", "False", "ContinuousArchivingFailing", j->err.msg, now);
            fail_backup(c, b, "walArchivingFailing", j->err.msg);
        } else {
            fail_backup(c, b, j->cancel ? "Cancelled" : "BackupFailed", j->err.msg);
        }
        if (c->next_retention > now + a->o->retention_retry)
            c->next_retention = now + a->o->retention_retry;
    } else {
        json_t *st = status_of(b), *cst = status_of(cluster_item(c));
        char msg[256];

        set_phase(b, "completed");
        json_object_set_new(st, "backupId", json_string(j->res.backup_id));
        json_object_set_new(st, "backupName", json_string(j->backup_name));
        json_object_set_new(st, "beginWal", json_string(j->res.begin_wal));
        json_object_set_new(st, "endWal", json_string(j->res.end_wal));
        if (j->begin_lsn[0])
            json_object_set_new(st, "beginLSN", json_string(j->begin_lsn));
        if (j->end_lsn[0])
            json_object_set_new(st, "endLSN", json_string(j->end_lsn));
        if (j->begin_time[0])
            pitr_status_set_time(st, "startedAt", pitr_status_time_parse(j->begin_time));
        if (j->end_time[0])
            pitr_status_set_time(st, "stoppedAt", pitr_status_time_parse(j->end_time));
        json_object_del(st, "error");
        pitr_status_set_time(st, "reconciliationTerminatedAt", now);
        pitr_status_condition(
          cst, "LastBackupSucceeded", "True", "LastBackupSucceeded", "Backup was successful", now);
        pitr_status_condition(cst,
                              "ContinuousArchiving",
                              "True",
                              "ContinuousArchivingSuccess",
                              "Continuous archiving is working",
                              now);
        snprintf(msg, sizeof(msg), "Backup completed: %s", j->res.backup_id);
        event(c, "Backup", j->backup_name, "Normal", "Completed", msg);
        apply_retention(a, c, j);
        apply_catalog(c, j);
    }
out:
    job_free(j);
}

static void start_retention(struct agent *a, struct acluster *c, const char *policy)
{
    struct job *j = pitr_calloc(1, sizeof(*j));
    struct pitr_err err = { 0 };

    j->kind = JOB_RETENTION;
    pitr_config_copy(&j->cfg, &c->cfg);
    j->cluster_key = pitr_strdup(c->key);
    j->policy = pitr_strdup(policy);
    if (job_start(j, &err) != PITR_OK) {
        pitr_log_error("cluster '%s': %s", c->name, err.msg);
        job_free(j);
        c->next_retention = now_s() + a->o->retention_retry;
        return;
    }
    a->job = j;
}

/* ---- clusters ---- */

static void cluster_release(struct acluster *c)
{
    pitr_free(c->key);
    pitr_free(c->ns);
    pitr_free(c->name);
    pitr_free(c->server);
    if (c->have_cfg)
        pitr_config_release(&c->cfg);
    pitr_free(c->cfg_error);
    pitr_free(c->sig);
    pitr_storage_free(c->st);
    pitr_free(c->local_path);
    json_decref(c->doc);
    pitr_free(c->store_error);
    pitr_free(c->recs);
    json_decref(c->notes);
    json_decref(c->view);
}

/* A fingerprint of what the settings come from (hashed with the secrets, never shown). */
static char *cluster_sig(const struct pitr_mf_cluster *m)
{
    const struct pitr_mf_store *s = &m->store;
    struct pitr_buf b;
    struct pitr_err err = { 0 };
    unsigned long h = 5381;
    char *text;
    size_t i, n;

    pitr_buf_init(&b, 1024 * 1024);
    if (pitr_buf_appendf(&b,
                         &err,
                         "%d|%s|%s|%s|%s|%d|%s|%s|%s|%s|%s|%s|%d|%d|%s|%zu|%d",
                         m->has_store,
                         s->destination_path ? s->destination_path : "",
                         s->endpoint_url ? s->endpoint_url : "",
                         s->endpoint_ca_pem ? s->endpoint_ca_pem : "",
                         s->server_name ? s->server_name : "",
                         s->inherit_iam_role,
                         s->access_key_id ? s->access_key_id : "",
                         s->secret_access_key ? s->secret_access_key : "",
                         s->session_token ? s->session_token : "",
                         s->region ? s->region : "",
                         s->data_compression ? s->data_compression : "",
                         s->data_encryption ? s->data_encryption : "",
                         s->data_jobs,
                         s->resolved,
                         m->retention_policy ? m->retention_policy : "",
                         s->n_tags,
                         s->data_immediate_checkpoint) != PITR_OK) {
        pitr_buf_release(&b);
        return pitr_strdup("?");
    }
    for (i = 0; i < s->n_tags; i++)
        if (pitr_buf_appendf(&b, &err, "|%s", s->tags[i]) != PITR_OK)
            break;
    n = b.len;
    for (i = 0; i < n; i++)
        h = h * 33 + (unsigned char)b.data[i];
    pitr_buf_release_secure(&b);
    text = pitr_malloc(24);
    snprintf(text, 24, "%lx", h);
    return text;
}

/* The main thread's storage: the Cluster's settings with at most 5 s of retries. */
static pitr_rc open_status_storage(struct acluster *c, struct pitr_err *err)
{
    struct pitr_config sc = c->cfg; /* shallow: strings stay owned by c->cfg */

    if (sc.retry_max_time > 5)
        sc.retry_max_time = 5;
    return pitr_storage_open(&sc, &c->st, err);
}

static struct acluster *cluster_for(struct agent *a, const struct pitr_mf_cluster *m)
{
    char *key = keyof(m->meta.namespace, m->meta.name), *sig;
    struct acluster *c = NULL;
    struct pitr_err err = { 0 };
    char path[4096], ca[4096];
    size_t i;

    for (i = 0; i < a->ncl; i++)
        if (strcmp(a->cl[i].key, key) == 0)
            c = &a->cl[i];
    if (c == NULL) {
        a->cl = pitr_realloc(a->cl, (a->ncl + 1) * sizeof(*a->cl));
        c = &a->cl[a->ncl++];
        memset(c, 0, sizeof(*c));
        c->key = key;
        key = NULL;
        c->ns = pitr_strdup(m->meta.namespace);
        c->name = pitr_strdup(m->meta.name);
    }
    pitr_free(key);
    sig = cluster_sig(m);
    if (c->sig != NULL && strcmp(c->sig, sig) == 0) {
        pitr_free(sig);
        return c;
    }
    /* new or changed settings: rebuild them and the store connection */
    pitr_free(c->sig);
    c->sig = sig;
    if (c->have_cfg)
        pitr_config_release(&c->cfg);
    c->have_cfg = 0;
    pitr_storage_free(c->st);
    c->st = NULL;
    pitr_free(c->cfg_error);
    c->cfg_error = NULL;
    snprintf(ca, sizeof(ca), "%s/%s_%s-ca.pem", a->o->state_dir, c->ns, c->name);
    if (pitr_agent_cluster_config(a->o->cfg, m, ca, &c->cfg, &err) != PITR_OK ||
        open_status_storage(c, &err) != PITR_OK) {
        pitr_config_release(&c->cfg);
        c->cfg_error = pitr_strdup(err.msg);
        pitr_log_error(
          "%s:%d: Cluster '%s': %s", m->meta.loc.file, m->meta.loc.line, m->meta.name, err.msg);
    } else {
        c->have_cfg = 1;
    }
    set_str(&c->server, m->store.server_name != NULL ? m->store.server_name : m->meta.name);
    if (c->local_path == NULL) {
        snprintf(path, sizeof(path), "%s/%s_%s.json", a->o->state_dir, c->ns, c->name);
        set_str(&c->local_path, path);
    }
    /* in a cluster the leader loads the store when it takes the lease */
    if (c->doc == NULL && !cluster_mode(a)) {
        const char *source = "new";
        struct pitr_err se = { 0 };

        if (pitr_status_load(c->st, c->server, c->local_path, &c->doc, &source, &se, &err) !=
            PITR_OK) {
            pitr_log_warn("cluster '%s': %s: starting with an empty status", c->name, err.msg);
            c->doc = pitr_status_new();
        }
        if (se.code != PITR_OK)
            pitr_log_warn("cluster '%s': cannot read the status store: %s; using the %s copy",
                          c->name,
                          se.msg,
                          source);
        pitr_log_info("cluster '%s': status from the %s copy", c->name, source);
        c->dirty = 1;
    }
    return c;
}

/*
 * Write a changed document: the local copy at once, the store too unless
 * it failed less than STORE_RETRY seconds ago (a store that hangs must not
 * hold the loop and its watchdog every tick; its requests are bounded by
 * the short retry time of c->st).
 */
#define STORE_RETRY 30

static void save(struct agent *a, struct acluster *c, int force)
{
    struct pitr_err err = { 0 };
    int64_t now = now_s();

    if (c->doc == NULL || !cluster_led(a, c))
        return;
    if (c->dirty) {
        if (pitr_status_save(NULL, c->server, c->local_path, c->doc, &err) != PITR_OK)
            pitr_log_warn("cluster '%s': cannot write the local status copy: %s", c->name, err.msg);
        c->dirty = 0;
        c->store_dirty = 1;
    }
    if (!c->store_dirty || !c->have_cfg || (!force && now < c->next_store_try))
        return;
    /* only the lease holder writes the store: read the lease back right before */
    if (cluster_mode(a) && !lease_confirm(a, c))
        return;
    if (pitr_status_save(c->st, c->server, NULL, c->doc, &err) != PITR_OK) {
        if (c->store_error == NULL || strcmp(c->store_error, err.msg) != 0) {
            pitr_log_warn("cluster '%s': cannot write the status: %s", c->name, err.msg);
            set_str(&c->store_error, err.msg);
        }
        c->next_store_try = now + STORE_RETRY;
        return;
    }
    if (c->store_error != NULL) {
        pitr_log_info("cluster '%s': status written again", c->name);
        set_str(&c->store_error, NULL);
    }
    c->store_dirty = 0;
}

/* ---- a cluster of agents (agent/cluster.h) ---- */

static int cluster_mode(const struct agent *a)
{
    return a->o->instance != NULL;
}

static int cluster_led(const struct agent *a, const struct acluster *c)
{
    return !cluster_mode(a) || c->leading;
}

/* Does this agent lead? Without instance-name it is the only one: always. */
static int agent_leads(const struct agent *a)
{
    size_t i;

    if (!cluster_mode(a))
        return 1;
    for (i = 0; i < a->ncl; i++)
        if (a->cl[i].leading)
            return 1;
    return 0;
}

static void cluster_key(const struct acluster *c, const char *what, char *out, size_t size)
{
    snprintf(out, size, "%s/pgpitr/%s", c->server, what);
}

/* Log msg once per key (bounded: at most 256 keys remembered). */
static void warn_once(struct acluster *c, const char *key, const char *msg)
{
    if (c->notes == NULL)
        c->notes = json_object();
    if (json_object_get(c->notes, key) != NULL || json_object_size(c->notes) >= 256)
        return;
    json_object_set_new(c->notes, key, json_true());
    pitr_log_warn("cluster '%s': %s", c->name, msg);
}

static pitr_rc put_json(struct acluster *c, const char *key, json_t *j, struct pitr_err *err)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    pitr_rc rc;

    json_decref(j);
    if (text == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "cannot serialise '%s'", key);
    rc = pitr_storage_put(c->st, key, text, strlen(text), err);
    pitr_free(text);
    return rc;
}

/* 1: *l is the lease; 0: none (absent, or malformed: warned once); -1: the store failed. */
static int read_lease(struct acluster *c, struct pitr_lease *l, struct pitr_err *err)
{
    struct pitr_buf b;
    struct pitr_err pe = { 0 };
    char key[600], msg[PITR_ERR_MSG_MAX + 64];
    pitr_rc rc;
    int r = 1;

    cluster_key(c, "lease.json", key, sizeof(key));
    pitr_buf_init(&b, PITR_CLUSTER_RECORD_MAX);
    rc = pitr_storage_get_max(c->st, key, PITR_CLUSTER_RECORD_MAX, &b, &pe);
    if (rc == PITR_ENOTFOUND) {
        r = 0;
    } else if (rc == PITR_OK || rc == PITR_ELIMIT) {
        if (rc != PITR_OK || pitr_cluster_lease_parse(b.data, b.len, l, &pe) != PITR_OK) {
            snprintf(msg, sizeof(msg), "ignoring a malformed lease: %s", pe.msg);
            warn_once(c, "lease", msg);
            r = 0;
        }
    } else {
        *err = pe;
        r = -1;
    }
    pitr_buf_release(&b);
    return r;
}

/* Take the store's status (never a local copy: it may be older than the last leader's). */
static int become_leader(struct agent *a, struct acluster *c, const char *why)
{
    json_t *doc = NULL;
    const char *source = "new";
    struct pitr_err se = { 0 }, e = { 0 };

    if (pitr_status_load(c->st, c->server, NULL, &doc, &source, &se, &e) != PITR_OK ||
        se.code != PITR_OK) {
        pitr_log_warn("cluster '%s': cannot read the stored status to lead: %s",
                      c->name,
                      se.code != PITR_OK ? se.msg : e.msg);
        json_decref(doc);
        return -1;
    }
    json_decref(c->doc);
    c->doc = doc;
    c->dirty = 1;
    c->store_dirty = 0;
    c->next_store_try = 0;
    c->next_retention = 0;
    c->leading = 1;
    c->lead_since = now_s();
    pitr_log_info("cluster '%s': instance '%s' leads (lease term %lld, timeline %lld: %s); "
                  "status from the %s copy",
                  c->name,
                  a->o->instance,
                  (long long)c->lease.term,
                  (long long)c->lease.timeline,
                  why,
                  source);
    return 0;
}

/* Stop at once: nothing is saved; a running backup of this cluster is cancelled. */
static void stop_leading(struct agent *a, struct acluster *c, const char *why)
{
    if (!c->leading)
        return;
    c->leading = 0;
    json_decref(c->doc);
    c->doc = NULL;
    c->dirty = 0;
    c->store_dirty = 0;
    if (a->job != NULL && strcmp(a->job->cluster_key, c->key) == 0)
        a->job->cancel = 1;
    pitr_log_warn(
      "cluster '%s': instance '%s' stops leading: %s; nothing saved", c->name, a->o->instance, why);
}

/* Before a store write or a backup: the lease read back is still the one we wrote. */
static int lease_confirm(struct agent *a, struct acluster *c)
{
    struct pitr_lease cur;
    struct pitr_err err = { 0 };
    char why[256];
    int r;

    if (!cluster_mode(a))
        return 1;
    if (!c->leading)
        return 0;
    if (now_s() >= c->lease.expires) {
        stop_leading(a, c, "the lease expired before it could be renewed");
        return 0;
    }
    r = read_lease(c, &cur, &err);
    if (r < 0)
        return 0; /* cannot tell: write nothing now, retry */
    if (r == 1 && pitr_cluster_lease_is(&cur, &c->lease))
        return 1;
    snprintf(why,
             sizeof(why),
             "the lease is now held by '%s' (term %lld, timeline %lld)",
             r == 1 ? cur.holder : "nobody",
             (long long)(r == 1 ? cur.term : 0),
             (long long)(r == 1 ? cur.timeline : 0));
    stop_leading(a, c, why);
    return 0;
}

/* The executor of Backup b is another agent whose fresh heartbeat says it still runs it. */
static int executor_alive(const struct agent *a, const struct acluster *c, json_t *b)
{
    json_t *inst = json_object_get(status_of(b), "instanceID");
    const char *who = pitr_status_str(inst, "agentInstance");
    const char *sess = pitr_status_str(inst, "sessionID");
    size_t i;

    if (!cluster_mode(a) || who == NULL || sess == NULL || strcmp(who, a->o->instance) == 0)
        return 0;
    for (i = 0; i < c->nrecs; i++) {
        const struct pitr_instance_rec *r = &c->recs[i];

        if (strcmp(r->instance, who) == 0)
            return pitr_cluster_rec_fresh(r, now_s(), a->o->heartbeat_interval) &&
                   strcmp(r->session, sess) == 0 && strcmp(r->running, name_of(b)) == 0;
    }
    return 0;
}

static void publish(struct agent *a, struct acluster *c)
{
    struct pitr_instance_rec r;
    struct pitr_err err = { 0 };
    char key[600], what[128];
    json_t *j, *repl;
    size_t i;

    memset(&r, 0, sizeof(r));
    snprintf(r.instance, sizeof(r.instance), "%s", a->o->instance);
    r.primary = a->node.primary;
    r.timeline = a->node.timeline;
    memcpy(r.current_lsn, a->node.current_lsn, sizeof(r.current_lsn));
    memcpy(r.replay_lsn, a->node.replay_lsn, sizeof(r.replay_lsn));
    memcpy(r.flush_lsn, a->node.flush_lsn, sizeof(r.flush_lsn));
    memcpy(r.receive_lsn, a->node.receive_lsn, sizeof(r.receive_lsn));
    r.lag_bytes = a->node.primary ? 0 : -1;
    r.lag_seconds = a->node.lag_seconds;
    r.replay_paused = a->node.replay_paused;
    snprintf(r.conninfo, sizeof(r.conninfo), "%s", a->o->peer_conninfo ? a->o->peer_conninfo : "");
    r.time = now_s();
    snprintf(r.version, sizeof(r.version), "%s", PITR_VERSION);
    r.pid = (int64_t)getpid();
    snprintf(r.boot_id, sizeof(r.boot_id), "%s", a->boot_id);
    snprintf(r.session, sizeof(r.session), "%s", a->session);
    r.leader = c->leading;
    if (a->job != NULL && a->job->kind == JOB_BACKUP && strcmp(a->job->cluster_key, c->key) == 0)
        snprintf(r.running, sizeof(r.running), "%s", a->job->backup_name);
    j = pitr_cluster_rec_json(&r);
    if (a->node.primary) {
        /* the standbys' lag in bytes, as this primary sees them */
        repl = json_array();
        for (i = 0; i < a->node.nrepl; i++)
            json_array_append_new(repl,
                                  json_pack("{s:s, s:s, s:I}",
                                            "instance",
                                            a->node.repl[i].name,
                                            "state",
                                            a->node.repl[i].streaming ? "streaming" : "other",
                                            "lagBytes",
                                            (json_int_t)a->node.repl[i].lag_bytes));
        json_object_set_new(j, "replication", repl);
    }
    snprintf(what, sizeof(what), "instances/%s.json", a->o->instance);
    cluster_key(c, what, key, sizeof(key));
    if (put_json(c, key, j, &err) != PITR_OK)
        pitr_log_warn("cluster '%s': cannot publish the heartbeat: %s", c->name, err.msg);
}

struct key_list {
    char keys[PITR_CLUSTER_INSTANCES_MAX][600];
    size_t n;
    int more;
};

static pitr_rc collect_key(const char *key,
                           const struct pitr_obj_info *info,
                           void *ud,
                           struct pitr_err *err)
{
    struct key_list *l = ud;
    size_t n = strlen(key);

    (void)info;
    (void)err;
    if (n < 5 || strcmp(key + n - 5, ".json") != 0 || n >= sizeof(l->keys[0]))
        return PITR_OK;
    if (l->n == PITR_CLUSTER_INSTANCES_MAX) {
        l->more = 1;
        return PITR_OK;
    }
    snprintf(l->keys[l->n++], sizeof(l->keys[0]), "%s", key);
    return PITR_OK;
}

/* The leader reads every heartbeat record (bounded; malformed ones warned once and ignored). */
static void read_instances(struct agent *a, struct acluster *c)
{
    struct key_list *l = pitr_calloc(1, sizeof(*l));
    struct pitr_err err = { 0 };
    char prefix[600], msg[PITR_ERR_MSG_MAX + 700];
    size_t i;

    cluster_key(c, "instances/", prefix, sizeof(prefix));
    if (pitr_storage_list(c->st, prefix, collect_key, l, &err) != PITR_OK) {
        pitr_log_warn("cluster '%s': cannot list the heartbeat records: %s", c->name, err.msg);
        goto out;
    }
    if (l->more)
        warn_once(c, "too-many", "more than 64 heartbeat records: the rest are ignored");
    c->recs = pitr_realloc(c->recs, (l->n + 1) * sizeof(*c->recs));
    c->nrecs = 0;
    for (i = 0; i < l->n; i++) {
        struct pitr_instance_rec *r = &c->recs[c->nrecs];
        struct pitr_buf b;
        const char *base = l->keys[i] + strlen(prefix);
        pitr_rc rc;

        pitr_buf_init(&b, PITR_CLUSTER_RECORD_MAX);
        rc = pitr_storage_get_max(c->st, l->keys[i], PITR_CLUSTER_RECORD_MAX, &b, &err);
        if (rc == PITR_OK)
            rc = pitr_cluster_rec_parse(b.data, b.len, r, &err);
        if (rc == PITR_OK && (strncmp(base, r->instance, strlen(r->instance)) != 0 ||
                              strcmp(base + strlen(r->instance), ".json") != 0))
            rc = pitr_err_set(&err, PITR_EFORMAT, "its instance is '%s'", r->instance);
        pitr_buf_release(&b);
        if (rc == PITR_OK) {
            if (strcmp(r->instance, a->o->instance) != 0)
                c->nrecs++;
        } else if (rc != PITR_ENOTFOUND) {
            snprintf(msg, sizeof(msg), "ignoring heartbeat record '%s': %s", l->keys[i], err.msg);
            warn_once(c, l->keys[i], msg);
        }
    }
out:
    pitr_free(l);
}

/* The winner of a split brain says so on the Cluster, once per other primary and timeline. */
static void note_other_primaries(struct agent *a, struct acluster *c)
{
    size_t i;

    for (i = 0; i < c->nrecs; i++) {
        const struct pitr_instance_rec *r = &c->recs[i];
        char key[128], msg[512];

        if (!r->primary || !pitr_cluster_rec_fresh(r, now_s(), a->o->heartbeat_interval))
            continue;
        snprintf(key, sizeof(key), "split:%s:%lld", r->instance, (long long)r->timeline);
        if (c->notes == NULL)
            c->notes = json_object();
        if (json_object_get(c->notes, key) != NULL)
            continue;
        json_object_set_new(c->notes, key, json_true());
        snprintf(msg,
                 sizeof(msg),
                 "split brain: instance %s is also a primary (timeline %lld; the leader %s is on "
                 "timeline %lld): the newer timeline leads, %s does not",
                 r->instance,
                 (long long)r->timeline,
                 a->o->instance,
                 (long long)a->node.timeline,
                 r->instance);
        event(c, "Cluster", c->name, "Warning", "SplitBrain", msg);
        pitr_status_condition(
          status_of(cluster_item(c)), "SingleLeader", "False", "SplitBrain", msg, now_s());
    }
}

static void settle(void)
{
    struct timespec ts = { PITR_CLUSTER_SETTLE_MS / 1000,
                           (long)(PITR_CLUSTER_SETTLE_MS % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Take, renew or give up the lease (see the rule in agent/cluster.h). */
static void lease_step(struct agent *a, struct acluster *c)
{
    struct pitr_lease cur, back;
    struct pitr_lease_me me;
    struct pitr_lease_decision d;
    struct pitr_err err = { 0 };
    char key[600], why[512];
    int r;

    if (!a->have_node) {
        stop_leading(a, c, "the local server does not answer");
        return;
    }
    r = read_lease(c, &cur, &err);
    if (r < 0) {
        pitr_log_warn("cluster '%s': cannot read the lease: %s", c->name, err.msg);
        if (c->leading && now_s() >= c->lease.expires)
            stop_leading(a, c, "the lease expired before it could be renewed");
        return;
    }
    memset(&me, 0, sizeof(me));
    me.instance = a->o->instance;
    me.primary = a->node.primary;
    me.timeline = a->node.timeline;
    me.pid = (int64_t)getpid();
    me.boot_id = a->boot_id;
    pitr_cluster_lease_decide(r == 1 ? &cur : NULL, &me, now_s(), a->o->lease_ttl, &d);
    if (d.action == PITR_LEASE_FOLLOW) {
        if (d.reason == PITR_LEASE_HIGHER_TIMELINE) {
            snprintf(why,
                     sizeof(why),
                     "split brain: instance %s on timeline %lld holds the lease and this "
                     "primary is on timeline %lld; the newer timeline leads",
                     cur.holder,
                     (long long)cur.timeline,
                     (long long)me.timeline);
            if (c->leading)
                stop_leading(a, c, why);
            else
                warn_once(c, "split-loser", why);
        } else if (c->leading) {
            stop_leading(a, c, pitr_cluster_lease_reason_text(d.reason));
        }
        return;
    }
    cluster_key(c, "lease.json", key, sizeof(key));
    if (put_json(c, key, pitr_cluster_lease_json(&d.next), &err) != PITR_OK) {
        pitr_log_warn("cluster '%s': cannot write the lease: %s", c->name, err.msg);
        return;
    }
    if (d.action == PITR_LEASE_RENEW && c->leading && c->lease.term == d.next.term) {
        c->lease = d.next;
        return;
    }
    /* no compare-and-swap: settle, read back, lead only when ours survived */
    settle();
    if (read_lease(c, &back, &err) != 1 || !pitr_cluster_lease_is(&back, &d.next)) {
        pitr_log_info(
          "cluster '%s': instance '%s' lost the race for the lease", c->name, me.instance);
        stop_leading(a, c, "another primary wrote the lease after us");
        return;
    }
    c->lease = d.next;
    if (!c->leading) {
        read_instances(a, c);
        (void)become_leader(a, c, pitr_cluster_lease_reason_text(d.reason));
    }
}

static void read_boot_id(struct agent *a)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

    a->boot_id[0] = '\0';
    if (f != NULL) {
        if (fgets(a->boot_id, sizeof(a->boot_id), f) == NULL)
            a->boot_id[0] = '\0';
        fclose(f);
    }
    a->boot_id[strcspn(a->boot_id, "\n")] = '\0';
}

/* Every heartbeat-interval: ask the local server, publish, take/renew the lease, read peers. */
static void cluster_tick(struct agent *a)
{
    struct pitr_err err = { 0 };
    int was = a->have_node, standby_backup;
    size_t i;

    if (!cluster_mode(a) || a->ncl == 0 || now_s() < a->next_hb)
        return;
    a->next_hb = now_s() + a->o->heartbeat_interval;
    standby_backup = a->job != NULL && a->job->kind == JOB_BACKUP &&
                     a->job->backup_conninfo != NULL && a->job->stage >= 1;
    a->have_node = node_query(a->o->conninfo, standby_backup, &a->node, &err) == PITR_OK;
    if (!a->have_node && was)
        pitr_log_warn("instance '%s': %s", a->o->instance, err.msg);
    for (i = 0; i < a->ncl; i++) {
        struct acluster *c = &a->cl[i];

        if (!c->have_cfg)
            continue;
        if (a->have_node)
            publish(a, c);
        lease_step(a, c);
        if (c->leading) {
            read_instances(a, c);
            note_other_primaries(a, c);
        }
    }
}

/* ---- the loop ---- */

static void poll_manifests(struct agent *a)
{
    struct pitr_err err = { 0 };
    struct pitr_mf_set snap;
    int changed = 0;
    size_t i;

    if (a->have_set && now_s() - a->last_poll < POLL_EVERY)
        return;
    a->last_poll = now_s();
    if (pitr_manifest_dir_poll(a->dir, &changed, &err) != PITR_OK) {
        pitr_log_error("manifests '%s': %s", a->o->manifests, err.msg);
        return;
    }
    if (a->have_set && !changed)
        return;
    memset(&snap, 0, sizeof(snap));
    if (pitr_manifest_dir_snapshot(a->dir, &snap, &err) != PITR_OK) {
        pitr_log_error("manifests '%s': %s", a->o->manifests, err.msg);
        return;
    }
    for (i = 0; i < snap.n_diags; i++) {
        const struct pitr_mf_diag *d = &snap.diags[i];

        pitr_log(d->severity == PITR_MF_ERROR ? PITR_LOG_ERROR : PITR_LOG_WARN,
                 "%s:%d: %s",
                 d->loc.file != NULL ? d->loc.file : a->o->manifests,
                 d->loc.line,
                 d->msg);
    }
    if (a->have_set)
        pitr_manifest_set_release(&a->set);
    a->set = snap;
    a->have_set = 1;
    pitr_log_info("manifests: %zu clusters, %zu scheduled backups, %zu backups",
                  snap.n_clusters,
                  snap.n_scheduled,
                  snap.n_backups);
}

/* archconf */
/*
 * archconf: every agent configures archiving of its local server for the
 * Cluster; only a leader (report = 1) writes what it found into the Cluster's
 * status. Returns 1 when that status changed.
 */
static int archconf_tick(struct agent *a,
                         struct acluster *c,
                         const struct pitr_mf_cluster *m,
                         int report)
{
    return pitr_archconf_tick(a->archconf,
                              c->ns,
                              c->name,
                              c->have_cfg ? &c->cfg : NULL,
                              &m->store,
                              report ? status_of(cluster_item(c)) : NULL,
                              now_s());
}

/* One pass over the manifests; returns 1 when a Backup is pending anywhere. */
static int reconcile(struct agent *a)
{
    const struct pitr_mf_set *s = &a->set;
    json_t *oldest = NULL;
    struct acluster *oldest_c = NULL;
    const struct pitr_mf_cluster *oldest_m = NULL;
    int pending = 0;
    size_t i, k;

    for (i = 0; i < a->ncl; i++)
        a->cl[i].seen = 0;
    for (i = 0; i < s->n_clusters; i++) {
        const struct pitr_mf_cluster *m = &s->clusters[i];
        struct acluster *c;
        json_t *items;

        /* recover: an empty PGDATA of a bootstrap.recovery Cluster first; backups wait */
        if (m->has_recovery) {
            enum pitr_recover_hold hold;

            c = m->has_store ? cluster_for(a, m) : NULL;
            hold = pitr_recover_step(&a->rec, a->o, m, c ? c->doc : NULL, c ? &c->dirty : NULL);
            if (c != NULL)
                c->seen = 1;
            pending |= hold == PITR_RECOVER_RUNNING;
            if (hold != PITR_RECOVER_GO)
                continue;
        }
        if (!m->has_store)
            continue;
        c = cluster_for(a, m);
        c->seen = 1;
        if (!cluster_led(a, c)) {
            /* archconf: a follower configures its local server too, but reports nothing */
            (void)archconf_tick(a, c, m, 0);
            continue; /* a follower keeps no schedule state */
        }
        mirror_cluster(c, m);
        if (archconf_tick(a, c, m, 1))
            c->dirty = 1;
        check_stale(a, c);
        for (k = 0; k < s->n_backups; k++) {
            const struct pitr_mf_backup *mb = &s->backups[k];

            if (strcmp(mb->cluster, m->meta.name) != 0 ||
                strcmp(mb->meta.namespace, m->meta.namespace) != 0 ||
                pitr_status_find(c->doc, "Backup", mb->meta.name) != NULL)
                continue;
            (void)new_backup(
              c, mb->meta.name, mb->meta.namespace, mb->method, mb->target, NULL, NULL);
            event(
              c, "Backup", mb->meta.name, "Normal", "Created", "Backup created from its manifest");
        }
        for (k = 0; k < s->n_scheduled; k++) {
            const struct pitr_mf_scheduled *sb = &s->scheduled[k];

            if (strcmp(sb->cluster, m->meta.name) == 0 &&
                strcmp(sb->meta.namespace, m->meta.namespace) == 0)
                reconcile_scheduled(a, c, sb);
        }
        /* the oldest pending Backup (creation time, then name) runs next */
        items = pitr_status_items(c->doc);
        for (k = 0; k < json_array_size(items); k++) {
            json_t *b = json_array_get(items, k);

            if (strcmp(pitr_status_str(b, "kind"), "Backup") != 0 ||
                strcmp(phase_of(b), "pending") != 0)
                continue;
            pending = 1;
            if (oldest == NULL || ts_of(b) < ts_of(oldest) ||
                (ts_of(b) == ts_of(oldest) && strcmp(name_of(b), name_of(oldest)) < 0)) {
                oldest = b;
                oldest_c = c;
                oldest_m = m;
            }
        }
    }
    /* a new leader first gives every live agent one heartbeat to publish its record */
    if (a->job == NULL && oldest != NULL &&
        (!cluster_mode(a) || now_s() >= oldest_c->lead_since + a->o->heartbeat_interval))
        start_backup(a, oldest_c, oldest, oldest_m);
    /* retention on its timer */
    for (i = 0; i < s->n_clusters && a->job == NULL; i++) {
        const struct pitr_mf_cluster *m = &s->clusters[i];
        struct acluster *c;

        if (!m->has_store || policy_of(a, m) == NULL || pitr_recover_holds(a->rec, m))
            continue;
        c = cluster_for(a, m);
        if (!c->have_cfg || !cluster_led(a, c))
            continue;
        if (c->next_retention == 0)
            c->next_retention = now_s(); /* once at start, then on the timer */
        if (now_s() >= c->next_retention)
            start_retention(a, c, policy_of(a, m));
    }
    for (i = 0; i < a->ncl; i++)
        save(a, &a->cl[i], 0);
    metrics_publish(a); /* metrics */
    return pending;
}

static void notify_status(struct agent *a)
{
    if (a->job != NULL && a->job->kind == JOB_BACKUP)
        sd_notifyf(0,
                   "WATCHDOG=1\nSTATUS=backup %s %s",
                   a->job->backup_name,
                   a->job->stage == 0 ? "checking WAL archiving" : "running");
    else if (a->job != NULL)
        sd_notify(0, "WATCHDOG=1\nSTATUS=retention running");
    else if (!agent_leads(a))
        sd_notifyf(0, "WATCHDOG=1\nSTATUS=following: %zu clusters", a->ncl);
    else
        sd_notifyf(0, "WATCHDOG=1\nSTATUS=idle: %zu clusters", a->ncl);
}

static void sleep_tick(const struct pitr_agent_opts *o)
{
    int i;

    for (i = 0; i < 10 && !*o->stop; i++) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };

        nanosleep(&ts, NULL);
    }
}

/* SIGTERM with a job running: cancel it, wait (bounded), record it. */
static void stop_job(struct agent *a)
{
    int i;

    if (a->job == NULL)
        return;
    pitr_log_info("stopping: cancelling the running job");
    a->job->cancel = 1;
    for (i = 0; i < PITR_AGENT_STOP_WAIT * 10 && !a->job->done; i++) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };

        if (i % 10 == 0)
            sd_notify(0, "WATCHDOG=1");
        nanosleep(&ts, NULL);
    }
    if (a->job->done) {
        if (a->job->rc == PITR_OK && a->job->kind == JOB_BACKUP)
            pitr_log_info("stopping: the backup finished before it could be cancelled");
        else if (a->job->kind == JOB_BACKUP) {
            char was[PITR_ERR_MSG_MAX];

            memcpy(was, a->job->err.msg, sizeof(was));
            snprintf(a->job->err.msg,
                     sizeof(a->job->err.msg),
                     "cancelled: the agent was stopped during the backup: %.900s",
                     was);
        }
        finish_job(a);
        return;
    }
    /* it did not stop in time: record the Backup failed; the thread dies with us */
    for (i = 0; i < (int)a->ncl; i++) {
        struct acluster *c = &a->cl[i];
        json_t *b;

        if (a->job->backup_name == NULL || strcmp(c->key, a->job->cluster_key) != 0)
            continue;
        b = pitr_status_find(c->doc, "Backup", a->job->backup_name);
        if (b != NULL)
            fail_backup(
              c, b, "Cancelled", "the agent was stopped and the backup did not end in time");
    }
    a->job = NULL; /* leaked on purpose: its thread may still use it */
}

pitr_rc pitr_agent_run(const struct pitr_agent_opts *o, struct pitr_err *err)
{
    struct agent a;
    pitr_rc rc;
    size_t i;
    int ready = 0;

    memset(&a, 0, sizeof(a));
    a.o = o;
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    if (gethostname(a.host, sizeof(a.host) - 1) != 0)
        snprintf(a.host, sizeof(a.host), "localhost");
    snprintf(
      a.session, sizeof(a.session), "%s-%ld-%lld", a.host, (long)getpid(), (long long)now_s());
    read_boot_id(&a);
    rc = pitr_fs_mkdir_p(o->state_dir, 0700, err);
    if (rc != PITR_OK)
        return rc;
    rc = pitr_manifest_dir_new(o->manifests, &a.dir, err);
    if (rc != PITR_OK)
        return rc;
    pitr_log_info("agent: session %s, manifests '%s'", a.session, o->manifests);
    if (o->instance != NULL)
        pitr_log_info("agent: instance '%s', heartbeat every %d s, lease %d s, stale after %d s, "
                      "takeover within %d s",
                      o->instance,
                      o->heartbeat_interval,
                      o->lease_ttl,
                      PITR_CLUSTER_STALE_FACTOR * o->heartbeat_interval,
                      o->lease_ttl + o->heartbeat_interval + 1);
    { /* archconf */
        struct pitr_archconf_opts ao = { o->state_dir,
                                         o->conninfo,
                                         o->pgpitr_bin,
                                         (enum pitr_archconf_restart)o->restart_policy,
                                         0 };

        a.archconf = pitr_archconf_new(&ao);
    }
    { /* metrics */
        struct pitr_metrics_opts mo = { o->metrics_listen, o->conninfo, o->pgdata, o->stats_file };
        struct pitr_err merr = { 0 };

        if (pitr_metrics_start(&mo, &a.metrics, &merr) != PITR_OK) {
            if (merr.code == PITR_EUSAGE) {
                *err = merr;
                pitr_archconf_free(a.archconf);
                pitr_manifest_dir_free(a.dir);
                return PITR_EUSAGE;
            }
            pitr_log_warn("agent: running without metrics: %s", merr.msg);
        }
    }
    while (!*o->stop) {
        int pending;

        poll_manifests(&a);
        if (a.job != NULL && a.job->done)
            finish_job(&a);
        if (a.job != NULL && a.job->kind == JOB_BACKUP && a.job->stage >= 1) {
            for (i = 0; i < a.ncl; i++) {
                json_t *b;

                if (strcmp(a.cl[i].key, a.job->cluster_key) != 0 || a.cl[i].doc == NULL)
                    continue;
                b = pitr_status_find(a.cl[i].doc, "Backup", a.job->backup_name);
                if (b != NULL && strcmp(phase_of(b), "started") == 0) {
                    set_phase(b, "running");
                    event(&a.cl[i],
                          "Backup",
                          a.job->backup_name,
                          "Normal",
                          "Running",
                          "WAL archiving works; copying the data directory");
                }
            }
        }
        cluster_tick(&a);
        pending = a.have_set ? reconcile(&a) : 0;
        if (!ready) {
            sd_notify(0, "READY=1");
            ready = 1;
        }
        notify_status(&a);
        if (o->once && a.job == NULL && !pending)
            break;
        sleep_tick(o);
    }
    sd_notify(0, "STOPPING=1");
    stop_job(&a);
    for (i = 0; i < a.ncl; i++)
        save(&a, &a.cl[i], 1);
    for (i = 0; i < a.ncl; i++)
        cluster_release(&a.cl[i]);
    pitr_free(a.cl);
    for (i = 0; i < a.ncrons; i++) {
        pitr_free(a.crons[i].key);
        pitr_free(a.crons[i].spec);
        pitr_free(a.crons[i].error);
        pitr_cron_free(a.crons[i].cron);
    }
    pitr_free(a.crons);
    pitr_recover_free(a.rec); /* recover */
    if (a.have_set)
        pitr_manifest_set_release(&a.set);
    pitr_manifest_dir_free(a.dir);
    pitr_archconf_free(a.archconf); /* archconf */
    pitr_metrics_stop(a.metrics);   /* metrics */
    pitr_log_info("agent: stopped");
    return PITR_OK;
}
