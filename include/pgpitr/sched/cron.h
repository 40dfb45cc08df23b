/*
 * cron.h - cron schedules with the semantics CloudNativePG gives
 * ScheduledBackup.spec.schedule (robfig/cron), plus the fix for its best
 * known trap.
 *
 * Accepted forms (cnpg-semantics.md section 1):
 *   - six fields, seconds first: "sec min hour dom month dow", each field a
 *     list of '*', '?', N, N-M, '*' or N-M or N followed by "/step"; month
 *     and weekday names (JAN-DEC, SUN-SAT, case-insensitive); weekdays
 *     0-6 (Sunday 0; 7 is refused, as robfig v1.2.0 does); dom and dow
 *     combine with OR when both are restricted, with AND when either was
 *     written '*' or '?', even with a step ("*\/2": robfig v1.2.0's star
 *     bit);
 *   - five fields: read as standard Unix cron (minute first, seconds 0). The
 *     parser returns a note naming the six-field equivalent, because CNPG
 *     would read "0 0 * * *" as hourly where the user meant daily;
 *   - descriptors @yearly @annually @monthly @weekly @daily @midnight
 *     @hourly and "@every <Go duration>" (e.g. 1h30m, 20s, 1.5h; rounded
 *     down to whole seconds, at least 1 s; the next run is after + d);
 *   - an optional "CRON_TZ=Zone " or "TZ=Zone " prefix naming an IANA zone;
 *     without it the default zone given to the parser applies (UTC when
 *     NULL). Gaps and repeats at DST changes behave as robfig's: a wall
 *     time inside a spring-forward gap is skipped that day, one inside a
 *     fall-back repeat runs in both occurrences, hourly schedules run
 *     every real hour. Zones come from /usr/share/zoneinfo (sched/tz.h).
 * pitr_cron_next searches at most five years ahead, as robfig does.
 *
 * Ownership: the parsed schedule is a heap object the caller frees with
 * pitr_cron_free; *note, when set, is a pitr_malloc'd string the caller frees.
 */
#ifndef PGPITR_SCHED_CRON_H
#define PGPITR_SCHED_CRON_H

#include <stdint.h>

#include "pgpitr/core/err.h"

struct pitr_cron;

/*
 * Parse spec. default_tz: IANA zone for schedules without a prefix (NULL or
 * "": UTC). On success *out is the schedule and *note is NULL or a one-line
 * warning to log once (five fields, naming the six-field equivalent; a TZ=
 * prefix, which CloudNativePG does not accept; an @every duration that was
 * rounded; a schedule that matches no time, like "0 0 0 30 2 *", which is
 * accepted as robfig accepts it). PITR_EUSAGE with a message naming the field and the reason on a
 * malformed spec, and on a bad, unknown or unreadable zone; on failure *out
 * and *note are NULL.
 */
PITR_MUST_CHECK pitr_rc pitr_cron_parse(const char *spec,
                                        const char *default_tz,
                                        struct pitr_cron **out,
                                        char **note,
                                        struct pitr_err *err);

/* The first activation strictly after `after` (Unix seconds, UTC); 0 when
 * there is none within five years (never for @every) or when `after` is
 * outside 0 .. 253212998399 (1970 to the end of 9993). */
int64_t pitr_cron_next(const struct pitr_cron *c, int64_t after);

/* The spec as given (borrowed, valid until pitr_cron_free). */
const char *pitr_cron_spec(const struct pitr_cron *c);

void pitr_cron_free(struct pitr_cron *c);

#endif
