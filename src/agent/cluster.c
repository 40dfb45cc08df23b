/* cluster.c - heartbeat records, the lease and where a Backup runs; see agent/cluster.h. */
#include "pgpitr/agent/cluster.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "pgpitr/agent/status.h"
#include "pgpitr/core/mem.h"

pitr_rc pitr_cluster_check_name(const char *name, struct pitr_err *err)
{
    size_t i, n = name != NULL ? strlen(name) : 0;

    if (n == 0 || n > PITR_CLUSTER_NAME_MAX)
        return pitr_err_set(err, PITR_EUSAGE, "instance-name must have 1 to 63 characters");
    if (name[0] == '.')
        return pitr_err_set(err, PITR_EUSAGE, "instance-name '%s' must not start with '.'", name);
    for (i = 0; i < n; i++) {
        char ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
              ch == '_'))
            return pitr_err_set(
              err, PITR_EUSAGE, "instance-name '%s': only a-z, 0-9, '.', '_' and '-'", name);
    }
    return PITR_OK;
}

pitr_rc pitr_cluster_check_conninfo(const char *conninfo, struct pitr_err *err)
{
    PQconninfoOption *opts, *o;
    char *perr = NULL;
    pitr_rc rc = PITR_OK;

    if (conninfo == NULL || conninfo[0] == '\0')
        return pitr_err_set(err, PITR_EUSAGE, "peer-conninfo is empty");
    if (strlen(conninfo) >= 1024)
        return pitr_err_set(err, PITR_EUSAGE, "peer-conninfo is longer than 1023 bytes");
    opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        /* libpq's message may quote the text: do not repeat it (it could hold a password) */
        PQfreemem(perr);
        return pitr_err_set(err, PITR_EUSAGE, "peer-conninfo: libpq cannot parse it");
    }
    for (o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
            rc = pitr_err_set(err,
                              PITR_EUSAGE,
                              "peer-conninfo holds a password: it is published to every node; "
                              "HINT: use a .pgpass file or certificates");
    PQconninfoFree(opts);
    return rc;
}

int pitr_cluster_target_parse(const char *s, enum pitr_cluster_target *out)
{
    if (s == NULL || strcmp(s, "prefer-standby") == 0) {
        *out = PITR_TARGET_PREFER_STANDBY;
        return 0;
    }
    if (strcmp(s, "primary") == 0) {
        *out = PITR_TARGET_PRIMARY;
        return 0;
    }
    return -1;
}

/* ---- records ---- */

json_t *pitr_cluster_rec_json(const struct pitr_instance_rec *r)
{
    json_t *o = json_object();
    char t[32];

    pitr_status_time(r->time, t);
    json_object_set_new(o, "instance", json_string(r->instance));
    json_object_set_new(o, "role", json_string(r->primary ? "primary" : "standby"));
    json_object_set_new(o, "timeline", json_integer(r->timeline));
    json_object_set_new(o, "currentLSN", json_string(r->current_lsn));
    json_object_set_new(o, "replayLSN", json_string(r->replay_lsn));
    json_object_set_new(o, "flushLSN", json_string(r->flush_lsn));
    json_object_set_new(o, "receiveLSN", json_string(r->receive_lsn));
    json_object_set_new(o, "lagBytes", json_integer(r->lag_bytes));
    json_object_set_new(o, "lagSeconds", json_real(r->lag_seconds));
    json_object_set_new(o, "replayPaused", json_boolean(r->replay_paused));
    json_object_set_new(o, "conninfo", json_string(r->conninfo));
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "version", json_string(r->version));
    json_object_set_new(o, "pid", json_integer(r->pid));
    json_object_set_new(o, "bootId", json_string(r->boot_id));
    json_object_set_new(o, "session", json_string(r->session));
    json_object_set_new(o, "leader", json_boolean(r->leader));
    json_object_set_new(o, "running", json_string(r->running));
    return o;
}

/* Copy o[key] (a string, at most size-1 bytes) into out; -1 when absent, ill-typed or too long. */
static int get_str(json_t *o, const char *key, char *out, size_t size, int required)
{
    json_t *v = json_object_get(o, key);

    out[0] = '\0';
    if (v == NULL)
        return required ? -1 : 0;
    if (!json_is_string(v) || json_string_length(v) >= size ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, int required)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return required ? -1 : 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_time(json_t *o, const char *key, int64_t *out)
{
    char s[40];

    if (get_str(o, key, s, sizeof(s), 1) != 0)
        return -1;
    *out = pitr_status_time_parse(s);
    return *out > 0 ? 0 : -1;
}

static pitr_rc load_obj(const char *what,
                        const char *text,
                        size_t len,
                        json_t **out,
                        struct pitr_err *err)
{
    json_error_t je;

    *out = NULL;
    if (len > PITR_CLUSTER_RECORD_MAX)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "%s: %zu bytes, more than the %zu allowed",
                            what,
                            len,
                            PITR_CLUSTER_RECORD_MAX);
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return pitr_err_set(err, PITR_EFORMAT, "%s: not a JSON object", what);
    }
    return PITR_OK;
}

pitr_rc pitr_cluster_rec_parse(const char *text,
                               size_t len,
                               struct pitr_instance_rec *r,
                               struct pitr_err *err)
{
    json_t *o = NULL, *v;
    const char *bad = NULL;
    char role[16];
    pitr_rc rc;

    memset(r, 0, sizeof(*r));
    r->lag_bytes = -1;
    r->lag_seconds = -1;
    rc = load_obj("heartbeat record", text, len, &o, err);
    if (rc != PITR_OK)
        return rc;
    if (get_str(o, "instance", r->instance, sizeof(r->instance), 1) != 0 ||
        pitr_cluster_check_name(r->instance, err) != PITR_OK)
        bad = "instance";
    else if (get_str(o, "role", role, sizeof(role), 1) != 0 ||
             (strcmp(role, "primary") != 0 && strcmp(role, "standby") != 0))
        bad = "role";
    else if (get_int(o, "timeline", 1, 0xFFFFFFFFLL, &r->timeline, 1) != 0)
        bad = "timeline";
    else if (get_str(o, "currentLSN", r->current_lsn, sizeof(r->current_lsn), 0) != 0 ||
             get_str(o, "replayLSN", r->replay_lsn, sizeof(r->replay_lsn), 0) != 0 ||
             get_str(o, "flushLSN", r->flush_lsn, sizeof(r->flush_lsn), 0) != 0 ||
             get_str(o, "receiveLSN", r->receive_lsn, sizeof(r->receive_lsn), 0) != 0)
        bad = "LSN";
    else if (get_int(o, "lagBytes", -1, INT64_MAX, &r->lag_bytes, 0) != 0)
        bad = "lagBytes";
    else if (get_str(o, "conninfo", r->conninfo, sizeof(r->conninfo), 0) != 0 ||
             (r->conninfo[0] != '\0' && pitr_cluster_check_conninfo(r->conninfo, err) != PITR_OK))
        bad = "conninfo";
    else if (get_time(o, "time", &r->time) != 0)
        bad = "time";
    else if (get_str(o, "version", r->version, sizeof(r->version), 0) != 0)
        bad = "version";
    else if (get_int(o, "pid", 0, INT32_MAX, &r->pid, 0) != 0)
        bad = "pid";
    else if (get_str(o, "bootId", r->boot_id, sizeof(r->boot_id), 0) != 0)
        bad = "bootId";
    else if (get_str(o, "session", r->session, sizeof(r->session), 0) != 0)
        bad = "session";
    else if (get_str(o, "running", r->running, sizeof(r->running), 0) != 0)
        bad = "running";
    if (bad == NULL) {
        r->primary = strcmp(role, "primary") == 0;
        v = json_object_get(o, "lagSeconds");
        if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1e12)
            r->lag_seconds = json_number_value(v);
        r->replay_paused = json_is_true(json_object_get(o, "replayPaused"));
        r->leader = json_is_true(json_object_get(o, "leader"));
    }
    json_decref(o);
    if (bad != NULL) {
        memset(r, 0, sizeof(*r));
        return pitr_err_set(err, PITR_EFORMAT, "heartbeat record: bad or missing '%s'", bad);
    }
    return PITR_OK;
}

int pitr_cluster_rec_fresh(const struct pitr_instance_rec *r, int64_t now, int hb)
{
    int64_t age = now - r->time, bound = (int64_t)PITR_CLUSTER_STALE_FACTOR * (hb > 0 ? hb : 1);

    return age <= bound && age >= -bound;
}

/* ---- the lease ---- */

json_t *pitr_cluster_lease_json(const struct pitr_lease *l)
{
    json_t *o = json_object();
    char t[32];

    json_object_set_new(o, "holder", json_string(l->holder));
    json_object_set_new(o, "timeline", json_integer(l->timeline));
    json_object_set_new(o, "term", json_integer(l->term));
    pitr_status_time(l->renewed, t);
    json_object_set_new(o, "renewed", json_string(t));
    pitr_status_time(l->expires, t);
    json_object_set_new(o, "expires", json_string(t));
    json_object_set_new(o, "pid", json_integer(l->pid));
    json_object_set_new(o, "bootId", json_string(l->boot_id));
    return o;
}

pitr_rc pitr_cluster_lease_parse(const char *text,
                                 size_t len,
                                 struct pitr_lease *l,
                                 struct pitr_err *err)
{
    json_t *o = NULL;
    const char *bad = NULL;
    pitr_rc rc;

    memset(l, 0, sizeof(*l));
    rc = load_obj("lease", text, len, &o, err);
    if (rc != PITR_OK)
        return rc;
    if (get_str(o, "holder", l->holder, sizeof(l->holder), 1) != 0 ||
        pitr_cluster_check_name(l->holder, err) != PITR_OK)
        bad = "holder";
    else if (get_int(o, "timeline", 1, 0xFFFFFFFFLL, &l->timeline, 1) != 0)
        bad = "timeline";
    else if (get_int(o, "term", 1, INT64_MAX, &l->term, 1) != 0)
        bad = "term";
    else if (get_time(o, "renewed", &l->renewed) != 0)
        bad = "renewed";
    else if (get_time(o, "expires", &l->expires) != 0)
        bad = "expires";
    else if (get_int(o, "pid", 0, INT32_MAX, &l->pid, 0) != 0)
        bad = "pid";
    else if (get_str(o, "bootId", l->boot_id, sizeof(l->boot_id), 0) != 0)
        bad = "bootId";
    json_decref(o);
    if (bad != NULL) {
        memset(l, 0, sizeof(*l));
        return pitr_err_set(err, PITR_EFORMAT, "lease: bad or missing '%s'", bad);
    }
    return PITR_OK;
}

static void fill_next(struct pitr_lease_decision *d,
                      const struct pitr_lease_me *me,
                      int64_t term,
                      int64_t now,
                      int ttl)
{
    memset(&d->next, 0, sizeof(d->next));
    snprintf(d->next.holder, sizeof(d->next.holder), "%s", me->instance);
    d->next.timeline = me->timeline;
    d->next.term = term;
    d->next.renewed = now;
    d->next.expires = now + ttl;
    d->next.pid = me->pid;
    snprintf(d->next.boot_id, sizeof(d->next.boot_id), "%s", me->boot_id ? me->boot_id : "");
}

void pitr_cluster_lease_decide(const struct pitr_lease *cur,
                               const struct pitr_lease_me *me,
                               int64_t now,
                               int ttl,
                               struct pitr_lease_decision *d)
{
    int64_t term = cur != NULL ? cur->term : 0;

    memset(d, 0, sizeof(*d));
    d->action = PITR_LEASE_FOLLOW;
    if (!me->primary || me->timeline < 1) {
        d->reason = PITR_LEASE_NOT_PRIMARY;
        return;
    }
    if (cur == NULL) {
        d->reason = PITR_LEASE_ABSENT;
        d->action = PITR_LEASE_ACQUIRE;
    } else if (strcmp(cur->holder, me->instance) == 0 && cur->timeline <= me->timeline) {
        d->reason = PITR_LEASE_OURS;
        d->action = PITR_LEASE_RENEW;
    } else if (cur->timeline > me->timeline) {
        /* a promoted standby is always on a newer timeline: we are the stale primary */
        d->reason = PITR_LEASE_HIGHER_TIMELINE;
        return;
    } else if (cur->timeline < me->timeline) {
        d->reason = PITR_LEASE_LOWER_TIMELINE;
        d->action = PITR_LEASE_ACQUIRE;
    } else if (cur->expires > now) {
        d->reason = PITR_LEASE_HELD;
        return;
    } else {
        d->reason = PITR_LEASE_EXPIRED;
        d->action = PITR_LEASE_ACQUIRE;
    }
    if (d->action == PITR_LEASE_RENEW)
        fill_next(d, me, term > 0 ? term : 1, now, ttl);
    else
        fill_next(d, me, term < INT64_MAX ? term + 1 : term, now, ttl);
}

int pitr_cluster_lease_is(const struct pitr_lease *read, const struct pitr_lease *wrote)
{
    return strcmp(read->holder, wrote->holder) == 0 && read->term == wrote->term &&
           read->pid == wrote->pid && read->timeline == wrote->timeline &&
           strcmp(read->boot_id, wrote->boot_id) == 0;
}

const char *pitr_cluster_lease_reason_text(enum pitr_lease_reason r)
{
    switch (r) {
    case PITR_LEASE_NOT_PRIMARY:
        return "the local server is not a primary";
    case PITR_LEASE_ABSENT:
        return "no lease";
    case PITR_LEASE_OURS:
        return "held by this instance";
    case PITR_LEASE_EXPIRED:
        return "the holder's lease expired";
    case PITR_LEASE_HELD:
        return "held by another primary on the same timeline";
    case PITR_LEASE_LOWER_TIMELINE:
        return "held by a primary on an older timeline";
    case PITR_LEASE_HIGHER_TIMELINE:
        return "held by a primary on a newer timeline";
    }
    return "?";
}

/* ---- where a Backup runs ---- */

int pitr_cluster_choose_target(enum pitr_cluster_target t,
                               const struct pitr_instance_rec *recs,
                               size_t n,
                               const struct pitr_repl_row *rows,
                               size_t nrows,
                               int64_t now,
                               int hb)
{
    int best = -1;
    int64_t best_lag = 0;
    size_t i, k;

    if (t == PITR_TARGET_PRIMARY)
        return -1;
    for (i = 0; i < n; i++) {
        const struct pitr_instance_rec *r = &recs[i];
        const struct pitr_repl_row *row = NULL;

        if (r->primary || r->leader || r->conninfo[0] == '\0' ||
            !pitr_cluster_rec_fresh(r, now, hb))
            continue;
        for (k = 0; k < nrows; k++)
            if (rows[k].name != NULL && strcmp(rows[k].name, r->instance) == 0)
                row = &rows[k];
        if (row == NULL || !row->streaming || row->lag_bytes < 0)
            continue;
        if (best < 0 || row->lag_bytes < best_lag ||
            (row->lag_bytes == best_lag && strcmp(r->instance, recs[best].instance) < 0)) {
            best = (int)i;
            best_lag = row->lag_bytes;
        }
    }
    return best;
}
