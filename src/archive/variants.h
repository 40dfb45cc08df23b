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

#endif
