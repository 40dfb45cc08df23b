/*
 * variants.h - private to archive/: find the stored variants of one WAL
 * file (its name plus any compression suffix, and its .partial form).
 */
#ifndef PGPITR_ARCHIVE_VARIANTS_H
#define PGPITR_ARCHIVE_VARIANTS_H

#include <stdint.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/storage/storage.h"

#define PITR_MAX_VARIANTS 16

struct wal_variant {
    char *key; /* owned */
    enum pitr_codec codec;
    int partial;   /* the stored name is <name>.partial */
    uint64_t size; /* as listed */
};

struct wal_variants {
    struct wal_variant v[PITR_MAX_VARIANTS];
    size_t n;
};

/* List the variants of name stored under stem (see pitr_wal_key_stem). */
PITR_MUST_CHECK pitr_rc wal_variants_find(struct pitr_storage *st,
                                          const char *stem,
                                          struct wal_variants *out,
                                          struct pitr_err *err);
void wal_variants_release(struct wal_variants *vs);

/* The most keys wal_variants_find_many reads before it gives up. */
#define WAL_VARIANTS_LIST_MAX 4096

/*
 * The variants of every WAL segment in names[0..n) with one listing of
 * their stems' common prefix (the prefetch worker's batch: one request
 * instead of one per segment). out[i] receives names[i]'s (empty when the
 * listing showed none: the caller must list that name alone before it
 * believes "not archived"). PITR_EUSAGE when the names are not in one
 * archive folder, PITR_ELIMIT when the prefix holds more than
 * WAL_VARIANTS_LIST_MAX keys; out[] is then empty.
 */
PITR_MUST_CHECK pitr_rc wal_variants_find_many(struct pitr_storage *st,
                                               const char *server,
                                               const char (*names)[25],
                                               size_t n,
                                               struct wal_variants *out,
                                               struct pitr_err *err);

#endif
