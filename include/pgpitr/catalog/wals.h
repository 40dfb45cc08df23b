/*
 * wals.h - the WAL archive of a server as a sorted list.
 *
 * pitr_cat_wals_list() lists every object under "<server>/wals/" (the
 * storage drivers page through listings, so nothing is missed past 1,000
 * keys) and parses each key:
 *   wals/<TTTTTTTTLLLLLLLL>/<segment>[.partial|.OOOOOOOO.backup][<sfx>]
 *   wals/<TTTTTTTT>.history[<sfx>]
 * where <sfx> is at most one compression suffix (codec/codec.h). Keys of
 * any other shape, and keys whose folder does not match the name's first
 * 16 characters, are not WAL: they are counted in `nother` and left out, so
 * nothing built on this list (retention, verify) ever touches them.
 *
 * A segment's position is (timeline, segment number) with segno = log *
 * (2^32 / seg_size) + seg, as PostgreSQL computes it; names whose seg part
 * is not below 2^32 / seg_size are invalid for that size and count as
 * other. The list is sorted by (timeline, segno), then history files
 * before segments, .backup files and .partial files, then by key.
 *
 * Ownership: the list owns every entry and every key; release it with
 * pitr_cat_wals_release().
 */
#ifndef PGPITR_CATALOG_WALS_H
#define PGPITR_CATALOG_WALS_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/err.h"
#include "pgpitr/wal/wal.h"

struct pitr_storage;

#define PITR_WAL_SEG_SIZE_DEFAULT ((uint32_t)16 * 1024 * 1024)

struct pitr_cat_wal {
    char *key;               /* owned; relative to the repository root */
    char name[41];           /* basename without compression suffix */
    enum pitr_wal_kind kind; /* segment, partial, backup history or timeline history */
    uint32_t tli;
    uint64_t segno; /* 0 for history files */
    enum pitr_codec codec;
    uint64_t size; /* stored (compressed) bytes */
};

struct pitr_cat_wals {
    struct pitr_cat_wal *v; /* owned */
    size_t n;
    size_t nother; /* objects under wals/ that are not WAL files */
    uint32_t seg_size;
};

/* seg_size must be a power of two from 1 MiB to 1 GiB; else PITR_EUSAGE. */
PITR_MUST_CHECK pitr_rc pitr_cat_wal_check_seg_size(uint32_t seg_size, struct pitr_err *err);

/*
 * Parse one key (relative to the repository root) that lies under
 * wals_prefix ("<server>/wals/"). Returns 1 and fills *out (out->key
 * stays NULL: the caller copies the key if it keeps the entry) when the key
 * is a WAL object, 0 otherwise.
 */
int pitr_cat_wal_parse_key(const char *wals_prefix,
                           const char *key,
                           uint64_t size,
                           uint32_t seg_size,
                           struct pitr_cat_wal *out);

/*
 * Position of a 24-character segment name (begin_wal, end_wal): its
 * timeline and segment number for seg_size. Anything else: PITR_EFORMAT
 * naming it.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_wal_segment_pos(const char *segment,
                                                 uint32_t seg_size,
                                                 uint32_t *tli,
                                                 uint64_t *segno,
                                                 struct pitr_err *err);

/* The inverse: the 24-character name of segment segno of tli for seg_size. */
void pitr_cat_wal_segment_name(uint32_t tli, uint64_t segno, uint32_t seg_size, char out[25]);

/*
 * Compare w with the segment named segment (e.g. a backup's begin_wal) by
 * (timeline, segno): *cmp < 0 when w lies before it, 0 in the same segment
 * (a .partial or .backup of that segment too), > 0 after it. History files
 * compare by timeline only, as segment 0. A malformed segment name:
 * PITR_EFORMAT.
 */
PITR_MUST_CHECK pitr_rc pitr_cat_wal_cmp_segment(const struct pitr_cat_wal *w,
                                                 const char *segment,
                                                 uint32_t seg_size,
                                                 int *cmp,
                                                 struct pitr_err *err);

/* Order of two entries as the list is sorted (a qsort comparator on entries). */
int pitr_cat_wal_order(const void *a, const void *b);

/*
 * List and parse every object under "<server>/wals/" into *out (initialised
 * here; release with pitr_cat_wals_release even on failure).
 */
PITR_MUST_CHECK pitr_rc pitr_cat_wals_list(struct pitr_storage *st,
                                           const char *server,
                                           uint32_t seg_size,
                                           struct pitr_cat_wals *out,
                                           struct pitr_err *err);

/* Index of the first entry at or after (tli, segno), or w->n. */
size_t pitr_cat_wals_lower_bound(const struct pitr_cat_wals *w, uint32_t tli, uint64_t segno);

void pitr_cat_wals_release(struct pitr_cat_wals *w);

#endif
