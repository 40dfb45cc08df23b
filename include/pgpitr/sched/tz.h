/*
 * tz.h - IANA time zones read from TZif files (RFC 8536), without setenv,
 * tzset or localtime_r, which share hidden process-wide state.
 *
 * A zone answers one question: the UTC offset in force at an instant. The
 * conversion from a local wall-clock time back to an instant follows Go's
 * time.Date, because robfig/cron (what CloudNativePG schedules with) walks
 * wall-clock fields through it (see pitr_tz_local_to_utc for gaps and
 * repeats).
 *
 * Zone files are read from /usr/share/zoneinfo (Debian's tzdata). A name is
 * checked before it is used as a path: letters, digits and "_+-./" only, no
 * leading '/', no "." or ".." component, at most PITR_TZ_NAME_MAX bytes; the
 * file must be a regular file of at most PITR_TZ_FILE_MAX bytes with the
 * TZif magic, and every count and index in it is bounded and checked. "UTC"
 * is built in (it works without tzdata). Symbolic links inside the folder
 * are followed: tzdata ships them (UTC -> Etc/UTC) and only root can add
 * one; a name can never reach a path outside the folder by itself.
 *
 * Ownership: a zone is a heap object freed with pitr_tz_free; names and
 * buffers passed in are borrowed (copied when kept).
 */
#ifndef PGPITR_SCHED_TZ_H
#define PGPITR_SCHED_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

#define PITR_TZ_DIR       "/usr/share/zoneinfo"
#define PITR_TZ_NAME_MAX  128
#define PITR_TZ_FILE_MAX  ((size_t)256 * 1024)
#define PITR_TZ_TRANS_MAX 20000 /* transitions in one file (tzdata: < 2,000) */

struct pitr_tz;

/* Load zone name from PITR_TZ_DIR. PITR_EUSAGE on a bad or unknown name,
 * PITR_EFORMAT on a file that is not valid TZif. */
PITR_MUST_CHECK pitr_rc pitr_tz_load(const char *name, struct pitr_tz **out, struct pitr_err *err);

/* The same from another folder (tests). */
PITR_MUST_CHECK pitr_rc pitr_tz_load_dir(const char *dir,
                                         const char *name,
                                         struct pitr_tz **out,
                                         struct pitr_err *err);

/* A zone from TZif bytes (versions 1 to 4; the footer rule of version 2+
 * covers times after the last transition). PITR_EFORMAT when malformed. */
PITR_MUST_CHECK pitr_rc pitr_tz_from_tzif(const char *name,
                                          const unsigned char *data,
                                          size_t len,
                                          struct pitr_tz **out,
                                          struct pitr_err *err);

/* A zone from a POSIX TZ rule alone, e.g. "CET-1CEST,M3.5.0,M10.5.0/3"
 * (the TZif footer syntax, RFC 8536 section 3.3). PITR_EFORMAT when bad. */
PITR_MUST_CHECK pitr_rc pitr_tz_from_posix(const char *name,
                                           const char *rule,
                                           struct pitr_tz **out,
                                           struct pitr_err *err);

/* True when name passes the checks above (it may still name no zone). */
int pitr_tz_name_ok(const char *name);

/* The zone's name (borrowed, valid until pitr_tz_free). */
const char *pitr_tz_name(const struct pitr_tz *tz);

/* UTC offset in seconds (east positive) in force at Unix time t. NULL: UTC. */
int32_t pitr_tz_offset(const struct pitr_tz *tz, int64_t t);

/*
 * The instant of local wall-clock time `wall` (seconds since 1970-01-01
 * 00:00 local) as Go's time.Date computes it: off = offset(wall), then
 * offset(wall - off) when that instant lies in another period. So, as in
 * Go, the result depends on the sign of the offsets: a time in a gap moves
 * forward by the gap east of UTC (Berlin 02:30 on a spring-forward day is
 * 03:30 CEST) and back west of it (New York 02:30 is 01:30 EST); a repeated
 * time is the later reading east of UTC (Berlin 02:30 CET) and the earlier
 * west of it (New York 01:30 EDT). NULL: UTC.
 */
int64_t pitr_tz_local_to_utc(const struct pitr_tz *tz, int64_t wall);

void pitr_tz_free(struct pitr_tz *tz);

/* Proleptic Gregorian calendar helpers (no time zone). */
int64_t pitr_tz_days_from_civil(int64_t y, int m, int d);
void pitr_tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
