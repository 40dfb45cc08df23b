/*
 * pushstats.h - wal-push's counters, kept in a small file so that a short
 * process leaves them where the agent's /metrics endpoint can read them.
 *
 * The file is exactly PITR_PUSHSTATS_FILE_SIZE bytes: two fixed-size slots
 * of PITR_PUSHSTATS_SLOT_SIZE, each a whole record (magic "PGPITRPS",
 * version, sequence number, counters, histogram, last archived / failed
 * WAL name and time, CRC-32 of the slot). A writer takes flock(LOCK_EX)
 * (bounded wait), reads both slots, takes the valid one with the higher
 * sequence, adds its push and writes the result into the OTHER slot with
 * one pwrite. A process killed mid-write tears at most the slot it was
 * writing, whose CRC then fails, and the other slot still holds the
 * previous state. There is no fsync: a power loss may lose the latest
 * updates (they are metrics), never make the file trusted when it is
 * damaged.
 *
 * Hostile input: the file is opened with O_NOFOLLOW|O_NONBLOCK and must be
 * a regular file; its size must be exactly PITR_PUSHSTATS_FILE_SIZE; a
 * slot is used only when its magic, version and CRC match and its WAL
 * names are short WAL-name characters. A writer that finds a damaged or
 * foreign file resets it to zero counters with one warning; a reader
 * reports PITR_EFORMAT and changes nothing.
 */
#ifndef PGPITR_WAL_PUSHSTATS_H
#define PGPITR_WAL_PUSHSTATS_H

#include <stdint.h>

#include "pgpitr/core/err.h"

#define PITR_PUSHSTATS_SLOT_SIZE 512
#define PITR_PUSHSTATS_FILE_SIZE (2 * PITR_PUSHSTATS_SLOT_SIZE)
#define PITR_PUSHSTATS_VERSION   1
#define PITR_PUSHSTATS_NAME      "pushstats"
/* Default location, relative to the pg_wal directory of the pushed file. */
#define PITR_PUSHSTATS_SPOOL "pgpitr_spool"
/* Seconds a writer or reader waits for the lock before giving up. */
#define PITR_PUSHSTATS_LOCK_WAIT_MS 2000

/* Histogram of push seconds: upper bounds of the finite buckets; one more for +Inf. */
#define PITR_PUSHSTATS_NBOUNDS  10
#define PITR_PUSHSTATS_NBUCKETS (PITR_PUSHSTATS_NBOUNDS + 1)
extern const double pitr_pushstats_bounds[PITR_PUSHSTATS_NBOUNDS];

enum pitr_push_result {
    PITR_PUSHSTAT_OK = 0,    /* stored now, or by an earlier look-ahead push of ours */
    PITR_PUSHSTAT_IDENTICAL, /* the same bytes were already archived */
    PITR_PUSHSTAT_ERROR,     /* archive_command failed */
    PITR_PUSHSTAT_NRESULTS
};

/* The label value of a result ("ok", "already_archived", "error"). */
const char *pitr_pushstats_result_name(enum pitr_push_result r);

#define PITR_PUSHSTATS_WAL_MAX 64 /* bytes for a WAL name, NUL included */

struct pitr_pushstats {
    uint64_t seq;                                   /* updates since the file was made */
    uint64_t count[PITR_PUSHSTAT_NRESULTS];         /* pushes by result */
    uint64_t bucket[PITR_PUSHSTATS_NBUCKETS];       /* pushes per bucket (not cumulative) */
    uint64_t sum_us;                                /* total push time, microseconds */
    int64_t last_archived_time;                     /* unix seconds, 0: never */
    int64_t last_failed_time;                       /* unix seconds, 0: never */
    char last_archived_wal[PITR_PUSHSTATS_WAL_MAX]; /* "" when never */
    char last_failed_wal[PITR_PUSHSTATS_WAL_MAX];   /* "" when never */
};

/*
 * Add one push to the file at path (created 0600 with its folder when
 * missing): result r, seconds it took, the WAL file's basename, at time
 * now. Errors (a non-regular file, the lock not taken in time, I/O) say
 * what failed; the caller only warns: stats never fail a push.
 */
PITR_MUST_CHECK pitr_rc pitr_pushstats_record(const char *path,
                                              enum pitr_push_result r,
                                              double seconds,
                                              const char *wal,
                                              int64_t now,
                                              struct pitr_err *err);

/*
 * Read the file at path into *out. Missing: PITR_ENOTFOUND; damaged,
 * foreign or not a regular file: PITR_EFORMAT (nothing is changed).
 */
PITR_MUST_CHECK pitr_rc pitr_pushstats_read(const char *path,
                                            struct pitr_pushstats *out,
                                            struct pitr_err *err);

/* "<waldir>/pgpitr_spool/pushstats": the default path; heap string owned by the caller. */
char *pitr_pushstats_default_path(const char *waldir);

/* Encode/decode one slot (exposed for the unit tests). decode: 0 when valid. */
void pitr_pushstats_encode(const struct pitr_pushstats *s,
                           unsigned char slot[PITR_PUSHSTATS_SLOT_SIZE]);
int pitr_pushstats_decode(const unsigned char slot[PITR_PUSHSTATS_SLOT_SIZE],
                          struct pitr_pushstats *s);

#endif
