/* sched.c - the ScheduledBackup decision; see agent/sched.h. */
#include "pgpitr/agent/sched.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int pitr_sched_backup_name(const char *name, int64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    int n;

    if (gmtime_r(&tt, &tm) == NULL)
        return -1;
    n = snprintf(out,
                 cap,
                 "%s-%04d%02d%02d%02d%02d%02d",
                 name,
                 tm.tm_year + 1900,
                 tm.tm_mon + 1,
                 tm.tm_mday,
                 tm.tm_hour,
                 tm.tm_min,
                 tm.tm_sec);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int is_ours(const struct pitr_sched_input *in, const struct pitr_sched_backup *b)
{
    return b->parent != NULL && strcmp(b->parent, in->name) == 0;
}

static const struct pitr_sched_backup *find(const struct pitr_sched_input *in, const char *name)
{
    size_t i;

    for (i = 0; i < in->n_backups; i++)
        if (strcmp(in->backups[i].name, name) == 0)
            return &in->backups[i];
    return NULL;
}

/* lastCheck = now, lastSchedule = slot, next = Next(now) (CNPG's advanceScheduledBackupStatus). */
static void advance(const struct pitr_sched_input *in,
                    int64_t now,
                    int64_t slot,
                    struct pitr_sched_decision *d)
{
    d->status.last_check = now;
    d->status.last_schedule = slot;
    d->status.next_schedule = in->next(in->next_ctx, now);
    d->status_changed = 1;
    d->requeue = d->status.next_schedule;
}

void pitr_sched_decide(const struct pitr_sched_input *in,
                       int64_t now,
                       struct pitr_sched_decision *d)
{
    const struct pitr_sched_backup *oldest = NULL, *b;
    int64_t slot;
    size_t i;

    memset(d, 0, sizeof(*d));
    d->status = in->status;
    if (in->suspend) {
        d->action = PITR_SCHED_SUSPENDED;
        return;
    }
    /* The concurrency gate: a Backup of ours that is not done holds the schedule. */
    for (i = 0; i < in->n_backups; i++) {
        if (is_ours(in, &in->backups[i]) && !in->backups[i].done) {
            d->action = PITR_SCHED_WAIT_CHILD;
            d->requeue = now + PITR_SCHED_CHILD_RECHECK;
            return;
        }
    }
    if (in->status.last_check == 0) {
        if (!in->immediate) {
            d->action = PITR_SCHED_FIRST_CHECK;
            d->status.last_check = now;
            d->status_changed = 1;
            d->requeue = in->next(in->next_ctx, now);
            if (d->requeue == 0)
                d->action = PITR_SCHED_NO_SCHEDULE;
            return;
        }
        /* Immediate: adopt the oldest immediate Backup an earlier run made. */
        for (i = 0; i < in->n_backups; i++) {
            b = &in->backups[i];
            if (is_ours(in, b) && b->immediate &&
                (oldest == NULL || b->created < oldest->created ||
                 (b->created == oldest->created && strcmp(b->name, oldest->name) < 0)))
                oldest = b;
        }
        d->immediate = 1;
        if (oldest != NULL) {
            d->action = PITR_SCHED_ADOPT;
            snprintf(d->backup_name, sizeof(d->backup_name), "%s", oldest->name);
            d->backup_time = oldest->created;
        } else {
            d->action = PITR_SCHED_CREATE;
            d->backup_time = now;
            if (pitr_sched_backup_name(in->name, now, d->backup_name, sizeof(d->backup_name)) !=
                0) {
                memset(d, 0, sizeof(*d));
                d->status = in->status;
                d->action = PITR_SCHED_NO_SCHEDULE;
                return;
            }
        }
        advance(in, now, d->backup_time, d);
        return;
    }
    slot = in->next(in->next_ctx, in->status.last_check);
    if (slot == 0) {
        d->action = PITR_SCHED_NO_SCHEDULE;
        return;
    }
    if (now < slot) {
        d->action = PITR_SCHED_NOT_DUE;
        d->requeue = slot;
        return;
    }
    /* Due: the one Backup for the first missed slot, whatever came after it. */
    if (pitr_sched_backup_name(in->name, slot, d->backup_name, sizeof(d->backup_name)) != 0) {
        d->action = PITR_SCHED_NO_SCHEDULE;
        return;
    }
    d->backup_time = slot;
    b = find(in, d->backup_name);
    if (b == NULL) {
        d->action = PITR_SCHED_CREATE;
    } else if (is_ours(in, b)) {
        d->action = PITR_SCHED_ADOPT;
    } else {
        /* Someone else's object holds the name: skip the slot, keep lastScheduleTime. */
        d->action = PITR_SCHED_REFUSE;
        d->status.last_check = now;
        d->status.next_schedule = in->next(in->next_ctx, now);
        d->status_changed = 1;
        d->requeue = d->status.next_schedule;
        return;
    }
    advance(in, now, slot, d);
}

int pitr_sched_deadline_passed(const char *phase, int64_t since, int64_t now)
{
    int64_t limit;

    if (phase == NULL || phase[0] == '\0' || strcmp(phase, "pending") == 0)
        limit = PITR_SCHED_DEADLINE_PENDING;
    else if (strcmp(phase, "started") == 0)
        limit = PITR_SCHED_DEADLINE_STARTED;
    else if (strcmp(phase, "running") == 0)
        limit = PITR_SCHED_DEADLINE_RUNNING;
    else
        return 0;
    return now - since > limit;
}

int pitr_sched_owner_parse(const char *s, enum pitr_sched_owner *out)
{
    if (s == NULL || strcmp(s, "none") == 0)
        *out = PITR_SCHED_OWNER_NONE;
    else if (strcmp(s, "self") == 0)
        *out = PITR_SCHED_OWNER_SELF;
    else if (strcmp(s, "cluster") == 0)
        *out = PITR_SCHED_OWNER_CLUSTER;
    else
        return -1;
    return 0;
}
