/*
 * retention.h - retention policies, keep annotations and backup deletion,
 * with barman-cloud-backup-delete's semantics (barman-cloud-format.md §3.7,
 * §3.8) so either tool can manage a repository the other wrote.
 *
 * Policies: "REDUNDANCY n", "RECOVERY WINDOW OF n DAYS|WEEKS|MONTHS"
 * (case-insensitive, singular or plural, a month is 31 days) and
 * CloudNativePG's "30d" / "4w" / "6m".
 *
 * Decisions (pitr_ret_decide) are pure: backups sorted by id, newest first
 * considered; only DONE backups are classified, others are NONE and never
 * deleted. Keep annotations make a backup KEEP:FULL / KEEP:STANDALONE and
 * it still counts towards the redundancy or the window. In a window policy
 * every backup up to and including the first one that ended before
 * now - window is VALID; older ones are OBSOLETE. A minimum redundancy
 * (newer barman's -m) turns OBSOLETE into POTENTIALLY_OBSOLETE until that
 * many backups are kept.
 *
 * WAL (pitr_ret_plan_wals, pure): the obsolete backups are deleted oldest
 * first, and for each barman's rules decide which WAL goes: nothing when an
 * older remaining backup is not keep:standalone; otherwise everything
 * before the next remaining backup's begin_wal (or the deleted one's when
 * none remains), except the begin..end ranges of older keep:standalone
 * backups, history files, and timelines that hold other backups. On top of
 * barman, positions are compared numerically (timeline, segment) and no
 * WAL at or after the begin_wal of a remaining DONE backup on its timeline
 * is ever removed, so WAL archived while retention runs is safe.
 */
#ifndef PGPITR_CATALOG_RETENTION_H
#define PGPITR_CATALOG_RETENTION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/catalog/wals.h"
#include "pgpitr/core/err.h"

struct pitr_storage;

enum pitr_ret_kind {
    PITR_RET_REDUNDANCY = 1,
    PITR_RET_WINDOW,
};

struct pitr_ret_policy {
    enum pitr_ret_kind kind;
    unsigned value;
    char unit;         /* window: 'd', 'w' or 'm' */
    int64_t window_us; /* window length */
    char text[64];     /* canonical: "REDUNDANCY 2", "RECOVERY WINDOW OF 30 DAYS" */
};

/* Parse a policy; anything else is PITR_EUSAGE naming it and the forms. */
PITR_MUST_CHECK pitr_rc pitr_ret_parse_policy(const char *s,
                                              struct pitr_ret_policy *p,
                                              struct pitr_err *err);

enum pitr_ret_status {
    PITR_RET_NONE = 0, /* not DONE: not classified, never deleted */
    PITR_RET_VALID,
    PITR_RET_OBSOLETE,
    PITR_RET_POTENTIALLY_OBSOLETE,
    PITR_RET_KEEP_FULL,
    PITR_RET_KEEP_STANDALONE,
};

/* "-", "VALID", "OBSOLETE", "POTENTIALLY_OBSOLETE", "KEEP:FULL", "KEEP:STANDALONE". */
const char *pitr_ret_status_name(enum pitr_ret_status s);

/* Classify v[0..n) (sorted by id) at time now_us; out has n entries. */
void pitr_ret_decide(const struct pitr_cat_backup *v,
                     size_t n,
                     const struct pitr_ret_policy *p,
                     unsigned min_redundancy,
                     int64_t now_us,
                     enum pitr_ret_status *out);

/*
 * Which WAL goes when the backups with gone[i] != 0 are deleted (oldest
 * first). step[j] (w->n entries) is set to 1 + the index in v of the
 * deletion that frees w->v[j], or 0 when it stays. skip_if_standalone: as
 * barman's "delete -b", remove no WAL when the older backups are all
 * keep:standalone. A backup whose begin_wal does not parse for the segment
 * size makes it remove nothing for that step.
 */
void pitr_ret_plan_wals(const struct pitr_cat_backup *v,
                        size_t n,
                        const int *gone,
                        int skip_if_standalone,
                        const struct pitr_cat_wals *w,
                        size_t *step);

/*
 * Find a backup by id, name (unique), "latest"/"last" (newest DONE) or
 * "oldest"/"first" (oldest DONE). *idx is its index in v. An unknown id:
 * PITR_ENOTFOUND; an unknown or ambiguous name: PITR_EGENERAL (barman's 4).
 */
PITR_MUST_CHECK pitr_rc pitr_ret_resolve(const struct pitr_cat_backup *v,
                                         size_t n,
                                         const char *arg,
                                         size_t *idx,
                                         struct pitr_err *err);

/* True for a barman backup id: 8 digits, 'T', 6 digits. */
int pitr_ret_is_backup_id(const char *s);

/*
 * Delete the objects under "<server>/base/<id>/": everything but
 * backup.info in batches (remove_many), then backup.info, so a failure can
 * be retried. Each key goes to out as "removed KEY" (or "would remove KEY"
 * with dry_run). *nobj counts them. Nothing there: PITR_OK, *nobj 0.
 */
PITR_MUST_CHECK pitr_rc pitr_ret_delete_backup_objects(struct pitr_storage *st,
                                                       const char *server,
                                                       const char *id,
                                                       int dry_run,
                                                       FILE *out,
                                                       size_t *nobj,
                                                       struct pitr_err *err);

/* Remove the WAL entries w->v[j] with step[j] == want (all when want is 0 and step[j] != 0). */
PITR_MUST_CHECK pitr_rc pitr_ret_delete_wals(struct pitr_storage *st,
                                             const struct pitr_cat_wals *w,
                                             const size_t *step,
                                             size_t want,
                                             int dry_run,
                                             FILE *out,
                                             size_t *nremoved,
                                             struct pitr_err *err);

struct pitr_ret_result {
    size_t backups_removed;
    size_t objects_removed;
    size_t wals_removed;
};

/*
 * Apply policy p to server: load the catalog (refusing when a backup.info
 * cannot be read, as barman does), classify, re-read the keep annotation
 * of every obsolete backup just before deciding, delete the obsolete
 * backups oldest first, each followed by the WAL it frees. Prints the
 * report and every removed key to out.
 */
PITR_MUST_CHECK pitr_rc pitr_ret_apply(struct pitr_storage *st,
                                       const char *server,
                                       const struct pitr_ret_policy *p,
                                       unsigned min_redundancy,
                                       int64_t now_us,
                                       int dry_run,
                                       FILE *out,
                                       struct pitr_ret_result *res,
                                       struct pitr_err *err);

/*
 * Delete one backup (id or name) as barman's "backup-delete -b": refused
 * (PITR_ECONFLICT) when it has a keep annotation; objects, then
 * backup.info, then the WAL only it needed. A base/<id>/ folder without
 * backup.info (objects another tool left behind) is emptied too. An
 * unknown id with nothing stored: warning, PITR_OK.
 */
PITR_MUST_CHECK pitr_rc pitr_ret_delete_one(struct pitr_storage *st,
                                            const char *server,
                                            const char *arg,
                                            int dry_run,
                                            FILE *out,
                                            struct pitr_ret_result *res,
                                            struct pitr_err *err);

#endif
