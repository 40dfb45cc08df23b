/*
 * cluster.h - the pure decisions of a multi-node agent: heartbeat records
 * ("<server>/pgpitr/instances/<instance>.json"), the leadership lease
 * ("<server>/pgpitr/lease.json"), the split-brain rule and where a Backup
 * runs. No I/O here: agent.c reads and writes the objects and asks these
 * functions what they mean, so every rule is unit-tested with hostile input.
 *
 * Heartbeat record: {"instance", "role" ("primary"|"standby"), "timeline",
 * "currentLSN", "replayLSN", "flushLSN", "receiveLSN", "lagBytes",
 * "lagSeconds", "replayPaused", "conninfo" (never a password), "time"
 * (RFC 3339), "version", "pid", "bootId", "session", "leader", "running"
 * (the Backup this agent executes, or "")}. A record is stale when its time
 * is more than PITR_CLUSTER_STALE_FACTOR x heartbeat-interval away from now.
 *
 * Lease: {"holder", "timeline", "term", "renewed", "expires", "pid",
 * "bootId"}. Split-brain rule (docs/ARCHITECTURE.md): only a primary may
 * hold it; a primary on a higher timeline takes it even unexpired; a
 * primary that finds it held by a higher timeline stops leading at once;
 * on equal timelines the unexpired holder keeps it.
 *
 * Bounds: records and leases are parsed from at most PITR_CLUSTER_RECORD_MAX
 * bytes; every string field has a fixed size and an over-long or
 * ill-typed field makes the whole record malformed (PITR_EFORMAT).
 */
#ifndef PGPITR_AGENT_CLUSTER_H
#define PGPITR_AGENT_CLUSTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

#define PITR_CLUSTER_RECORD_MAX    ((size_t)64 * 1024)
#define PITR_CLUSTER_INSTANCES_MAX 64 /* records read back per listing */
#define PITR_CLUSTER_STALE_FACTOR  3
#define PITR_CLUSTER_SETTLE_MS     1000 /* write, wait this, read back */
#define PITR_CLUSTER_DEFAULT_HB    5
#define PITR_CLUSTER_DEFAULT_TTL   15
#define PITR_CLUSTER_NAME_MAX      63

enum pitr_cluster_target { PITR_TARGET_PREFER_STANDBY = 0, PITR_TARGET_PRIMARY };

struct pitr_instance_rec {
    char instance[PITR_CLUSTER_NAME_MAX + 1];
    int primary; /* 1: not in recovery */
    int64_t timeline;
    char current_lsn[24], replay_lsn[24], flush_lsn[24], receive_lsn[24];
    int64_t lag_bytes;  /* -1: unknown */
    double lag_seconds; /* -1: unknown */
    int replay_paused;
    char conninfo[1024];
    int64_t time;
    char version[32];
    int64_t pid;
    char boot_id[40];
    char session[320];
    int leader;
    char running[256];
};

struct pitr_lease {
    char holder[PITR_CLUSTER_NAME_MAX + 1];
    int64_t timeline;
    int64_t term;
    int64_t renewed;
    int64_t expires;
    int64_t pid;
    char boot_id[40];
};

/* One row of the leader's pg_stat_replication. */
struct pitr_repl_row {
    const char *name; /* application_name (borrowed) */
    int streaming;    /* state = 'streaming' */
    int64_t lag_bytes;
};

/* An instance name: 1..63 of [a-z0-9._-], not starting with '.'. */
PITR_MUST_CHECK pitr_rc pitr_cluster_check_name(const char *name, struct pitr_err *err);

/* A peer conninfo libpq parses and that holds no password (use a .pgpass file). */
PITR_MUST_CHECK pitr_rc pitr_cluster_check_conninfo(const char *conninfo, struct pitr_err *err);

/* "primary" / "prefer-standby" (NULL: prefer-standby); -1 on anything else. */
int pitr_cluster_target_parse(const char *s, enum pitr_cluster_target *out);

/* A record as JSON (new reference). */
json_t *pitr_cluster_rec_json(const struct pitr_instance_rec *r);

/* Parse a record from at most PITR_CLUSTER_RECORD_MAX bytes; PITR_EFORMAT naming the field. */
PITR_MUST_CHECK pitr_rc pitr_cluster_rec_parse(const char *text,
                                               size_t len,
                                               struct pitr_instance_rec *r,
                                               struct pitr_err *err);

/* The record is fresh at now for this heartbeat interval. */
int pitr_cluster_rec_fresh(const struct pitr_instance_rec *r, int64_t now, int hb);

json_t *pitr_cluster_lease_json(const struct pitr_lease *l);
PITR_MUST_CHECK pitr_rc pitr_cluster_lease_parse(const char *text,
                                                 size_t len,
                                                 struct pitr_lease *l,
                                                 struct pitr_err *err);

enum pitr_lease_action {
    PITR_LEASE_FOLLOW = 0, /* do not lead, do not write */
    PITR_LEASE_ACQUIRE,    /* write a new term, settle, read back */
    PITR_LEASE_RENEW,      /* write the same term with a later expiry */
};

enum pitr_lease_reason {
    PITR_LEASE_NOT_PRIMARY = 0, /* our server is in recovery (or unknown) */
    PITR_LEASE_ABSENT,          /* no (valid) lease: take it */
    PITR_LEASE_OURS,            /* we hold it: renew */
    PITR_LEASE_EXPIRED,         /* equal timeline, expired: take it */
    PITR_LEASE_HELD,            /* equal timeline, unexpired, someone else's */
    PITR_LEASE_LOWER_TIMELINE,  /* held by a lower timeline: take it (split brain, we win) */
    PITR_LEASE_HIGHER_TIMELINE, /* held by a higher timeline: we lose (split brain) */
};

/* Who we are when deciding. */
struct pitr_lease_me {
    const char *instance;
    int primary;
    int64_t timeline;
    int64_t pid;
    const char *boot_id;
};

struct pitr_lease_decision {
    enum pitr_lease_action action;
    enum pitr_lease_reason reason;
    struct pitr_lease next; /* what to write (ACQUIRE/RENEW) */
};

/*
 * The lease rule. cur is the lease read (NULL: absent or malformed). A
 * lease whose holder is us (same instance name) is renewed even after a
 * restart (new pid/boot id); the term grows on every acquisition.
 */
void pitr_cluster_lease_decide(const struct pitr_lease *cur,
                               const struct pitr_lease_me *me,
                               int64_t now,
                               int ttl,
                               struct pitr_lease_decision *d);

/* The lease read back is the one we wrote (holder, term, pid and boot id). */
int pitr_cluster_lease_is(const struct pitr_lease *read, const struct pitr_lease *wrote);

/* A short text for a reason ("held by a higher timeline", ...). */
const char *pitr_cluster_lease_reason_text(enum pitr_lease_reason r);

/*
 * Where a Backup runs. With prefer-standby: among the records (n of them)
 * that are fresh, standbys, not the leader, have a conninfo, and stream
 * according to the leader's pg_stat_replication rows (matched by
 * application_name = instance), the least replay lag (bytes, then name).
 * Returns that record's index, or -1 for the primary (the leader itself).
 */
int pitr_cluster_choose_target(enum pitr_cluster_target t,
                               const struct pitr_instance_rec *recs,
                               size_t n,
                               const struct pitr_repl_row *rows,
                               size_t nrows,
                               int64_t now,
                               int hb);

#endif
