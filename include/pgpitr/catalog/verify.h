/*
 * verify.h - is the repository of a server whole?
 *
 * pitr_verify_run() checks, for every backup (or one):
 *   - backup.info exists, parses and has the keys a restore needs
 *     (begin/end WAL and LSN, timeline, system id, version, times), its
 *     begin_wal lies on its timeline and not after end_wal;
 *   - the volumes: data.tar<sfx> and one <oid>.tar<sfx> per tablespace
 *     backup.info lists, further volumes numbered without holes, no volume
 *     of an unknown tablespace;
 *   - with a pgpitr.manifest.json that records "objects" (name, stored
 *     size, SHA-256 of the stored bytes): every recorded object is stored
 *     with that size, every stored volume is recorded, and with full set
 *     every object is read back and its SHA-256 compared. Backups without
 *     those records (barman-cloud's, older pgpitr ones) get the checks
 *     above only;
 *   - WAL continuity: from the backup's begin_wal, every segment up to the
 *     newest archived segment of its timeline, and of every later timeline
 *     whose history file shows it branching from the backup's timeline at
 *     or after begin_wal (the old timeline up to the switch point, then the
 *     new one). A .partial counts only as a timeline's last segment. A
 *     timeline above 1 that has segments but no history file is a problem.
 * DONE backups only: FAILED or unfinished ones are counted as skipped.
 *
 * Problems are collected in a report, each naming the backup (or none, for
 * WAL of no single backup), the object and what is wrong. The pure checks
 * are exposed so they can be tested without storage.
 */
#ifndef PGPITR_CATALOG_VERIFY_H
#define PGPITR_CATALOG_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/catalog/wals.h"
#include "pgpitr/core/err.h"

struct pitr_storage;

struct pitr_verify_problem {
    char *backup_id; /* owned; NULL when the problem belongs to no single backup */
    char *object;    /* owned; the object, WAL file or backup.info key concerned */
    char *what;      /* owned; what is wrong */
};

struct pitr_verify_report {
    struct pitr_verify_problem *v; /* owned */
    size_t n;
    size_t backups_checked;
    size_t backups_skipped; /* not DONE */
    size_t objects_checked;
    uint64_t bytes_hashed; /* --full: stored bytes read back and hashed */
    size_t wal_segments_checked;
};

void pitr_verify_report_init(struct pitr_verify_report *r);
void pitr_verify_report_release(struct pitr_verify_report *r);
/* Add a problem (strings copied); an identical object of the same backup is not added twice. */
void pitr_verify_report_add(struct pitr_verify_report *r,
                            const char *backup_id,
                            const char *object,
                            const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));

/* One object as a manifest records it, or as the listing shows it (sha256 NULL). */
struct pitr_verify_object {
    const char *name; /* borrowed; the object name under the backup folder */
    uint64_t size;
    const char *sha256; /* borrowed; lowercase hex, or NULL when not recorded */
};

/*
 * Compare the recorded objects with the stored ones (any order): a
 * recorded object missing or of another size, and a stored tar volume the
 * record does not list, are problems of backup id.
 */
void pitr_verify_objects(struct pitr_verify_report *r,
                         const char *id,
                         const struct pitr_verify_object *recorded,
                         size_t nrecorded,
                         const struct pitr_verify_object *stored,
                         size_t nstored);

/*
 * The volumes of backup id, from the stored names: data.tar<sfx> present,
 * <stream>_NNNN numbered from 0001 without holes, one <oid>.tar<sfx> for
 * each of oids[0..noids) and none for another oid.
 */
void pitr_verify_volumes(struct pitr_verify_report *r,
                         const char *id,
                         const struct pitr_verify_object *stored,
                         size_t nstored,
                         const uint32_t *oids,
                         size_t noids);

/* One timeline switch of a history file: tli ended at switch_lsn. */
struct pitr_verify_switch {
    uint32_t tli;
    uint64_t switch_lsn;
};

/* A timeline and its ancestors, from "<tli>.history". */
struct pitr_verify_history {
    uint32_t tli;
    struct pitr_verify_switch *v; /* owned; oldest ancestor first */
    size_t n;
};

/*
 * Parse a timeline history file's text ("parentTLI<TAB>X/Y<TAB>reason"
 * lines; blank and '#' lines skipped) into *h, for timeline tli. A line
 * that does not parse: PITR_EFORMAT naming the line.
 */
PITR_MUST_CHECK pitr_rc pitr_verify_parse_history(const char *text,
                                                  size_t len,
                                                  uint32_t tli,
                                                  struct pitr_verify_history *h,
                                                  struct pitr_err *err);
void pitr_verify_history_release(struct pitr_verify_history *h);

/* Where a backup's WAL starts and ends (its begin_wal and end_wal). */
struct pitr_verify_start {
    const char *id;        /* borrowed */
    const char *begin_wal; /* borrowed; 24 characters */
    const char *end_wal;   /* borrowed; may be NULL */
};

/*
 * WAL continuity (see above) for every backup in b[0..nb), over the sorted
 * archive w and the parsed history files h[0..nh) (any order). Problems
 * name the first missing segment of each gap (and how many follow), a
 * missing end_wal, and timelines without history. Counts the segments
 * found in r->wal_segments_checked.
 */
void pitr_verify_wal(struct pitr_verify_report *r,
                     const struct pitr_cat_wals *w,
                     const struct pitr_verify_history *h,
                     size_t nh,
                     const struct pitr_verify_start *b,
                     size_t nb);

struct pitr_verify_opts {
    const char *id; /* a backup id or name, "latest"; NULL or "all": every backup */
    int full;       /* read every recorded object back and compare its SHA-256 */
};

/*
 * Run every check on server's repository st into *r (initialised here;
 * release it even on failure). Returns PITR_OK when the checks ran, whatever
 * they found (r->n problems); another code when they could not (listing
 * failed, unknown backup id: PITR_ENOTFOUND).
 */
PITR_MUST_CHECK pitr_rc pitr_verify_run(struct pitr_storage *st,
                                        const char *server,
                                        const struct pitr_verify_opts *o,
                                        struct pitr_verify_report *r,
                                        struct pitr_err *err);

#endif
