/*
 * sched.h - the ScheduledBackup decision of CloudNativePG's controller
 * (cnpg-semantics.md 1.3), as a pure function of the object, its status,
 * the Backups that exist and the time.
 *
 * One call answers "what does this ScheduledBackup do now": nothing while
 * suspended; wait while one of its Backups is not done; on first sight
 * create the immediate Backup (or adopt one left by an earlier run) or
 * only record the check; when the slot after lastCheckTime is due, create
 * the Backup named after that slot, adopt it when it already exists with
 * our label, or skip the slot when it exists without. Missed slots
 * collapse into one catch-up Backup named after the first missed slot,
 * and the next slot is computed from now. Names are
 * "<scheduledbackup>-<YYYYMMDDHHMMSS>" of the slot in UTC, so a crash
 * between creating a Backup and recording it adopts instead of
 * duplicating.
 *
 * Unlike CNPG, a Backup never blocks the schedule forever: every phase
 * that is not final has a deadline (pitr_sched_deadline_passed), after
 * which the agent fails it with a reason.
 *
 * The schedule comes in as a "next activation" callback, so the decision
 * does not depend on how the cron expression is stored (tests pass a fake).
 * Nothing here allocates; strings in the input are borrowed.
 */
#ifndef PGPITR_AGENT_SCHED_H
#define PGPITR_AGENT_SCHED_H

#include <stddef.h>
#include <stdint.h>

/* First activation strictly after `after` (Unix seconds); 0: none. */
typedef int64_t (*pitr_sched_next_fn)(const void *ctx, int64_t after);

/* The status fields of a ScheduledBackup (Unix seconds; 0 = unset). */
struct pitr_sched_status {
    int64_t last_check;
    int64_t last_schedule;
    int64_t next_schedule;
};

/* One Backup that exists (in the status store) in the ScheduledBackup's namespace. */
struct pitr_sched_backup {
    const char *name;   /* borrowed */
    const char *parent; /* borrowed; its cnpg.io/scheduled-backup label, or NULL */
    int immediate;      /* its cnpg.io/immediateBackup label is "true" */
    int done;           /* phase completed or failed */
    int64_t created;    /* creationTimestamp */
};

struct pitr_sched_input {
    const char *name; /* borrowed; the ScheduledBackup's metadata.name */
    int suspend;
    int immediate;
    struct pitr_sched_status status;
    const struct pitr_sched_backup *backups; /* borrowed */
    size_t n_backups;
    pitr_sched_next_fn next;
    const void *next_ctx;
};

enum pitr_sched_action {
    PITR_SCHED_SUSPENDED = 1, /* spec.suspend: nothing, status unchanged */
    PITR_SCHED_WAIT_CHILD,    /* a Backup of ours is not done: look again at requeue */
    PITR_SCHED_FIRST_CHECK,   /* first sight, not immediate: only lastCheckTime */
    PITR_SCHED_NOT_DUE,       /* the next slot is in the future */
    PITR_SCHED_CREATE,        /* create Backup `backup_name` */
    PITR_SCHED_ADOPT,         /* Backup `backup_name` exists with our label: take it */
    PITR_SCHED_REFUSE,        /* Backup `backup_name` exists without our label: skip the slot */
    PITR_SCHED_NO_SCHEDULE,   /* the schedule has no next activation */
};

/* Longest name we build: a Kubernetes name (253) + '-' + 14 digits. */
#define PITR_SCHED_NAME_MAX 272

struct pitr_sched_decision {
    enum pitr_sched_action action;
    char backup_name[PITR_SCHED_NAME_MAX]; /* CREATE, ADOPT, REFUSE */
    int64_t backup_time;                   /* the slot (or now for the immediate one) */
    int immediate;                         /* the Backup is the immediate one */
    struct pitr_sched_status status;       /* the status to record (unchanged when not) */
    int status_changed;
    int64_t requeue; /* when to look again (absolute); 0: only on a change */
};

/* How long a child that is not done keeps the schedule waiting before a look (CNPG: 60 s). */
#define PITR_SCHED_CHILD_RECHECK 60

/*
 * Decide for in at time now. A name that does not fit PITR_SCHED_NAME_MAX
 * gives PITR_SCHED_NO_SCHEDULE (manifests are checked before this).
 */
void pitr_sched_decide(const struct pitr_sched_input *in,
                       int64_t now,
                       struct pitr_sched_decision *d);

/* "<name>-<YYYYMMDDHHMMSS>" of t in UTC into out; 0, or -1 when it does not fit. */
int pitr_sched_backup_name(const char *name, int64_t t, char *out, size_t cap);

/* Phase deadlines (seconds in the phase). */
#define PITR_SCHED_DEADLINE_PENDING (6 * 3600) /* waiting for another backup of the cluster */
#define PITR_SCHED_DEADLINE_STARTED (15 * 60)  /* the archive check before the copy */
#define PITR_SCHED_DEADLINE_RUNNING (24 * 3600)

/*
 * True when a Backup that entered `phase` at `since` has overstayed its
 * deadline at now. Final phases (completed, failed) and unknown phases
 * never expire; the empty phase counts as pending.
 */
int pitr_sched_deadline_passed(const char *phase, int64_t since, int64_t now);

/* What backupOwnerReference puts in a created Backup's ownerReferences. */
enum pitr_sched_owner { PITR_SCHED_OWNER_NONE, PITR_SCHED_OWNER_SELF, PITR_SCHED_OWNER_CLUSTER };

/* "none"/NULL, "self" or "cluster"; -1 for anything else. */
int pitr_sched_owner_parse(const char *s, enum pitr_sched_owner *out);

#endif
