/*
 * sink.h - where the bytes of one tar volume go.
 *
 * The backup pipeline writes each volume (data.tar.gz, data_0001.tar.gz,
 * 16384.tar.gz, ...) through this interface and nothing else:
 *
 *     open(key) -> write(p, n) ... -> commit()      the object now exists, whole
 *                                  -> abort()       nothing is left behind
 *
 * At most one object is open per sink at a time; a sink is used by one
 * thread at a time. After a failed write or commit the caller calls abort().
 * Keys are repository keys ("<server>/base/<id>/data.tar.gz").
 *
 * pitr_sink_storage_new() streams through the storage API's writer
 * (pitr_storage_open_write): on S3 a multipart upload with --jobs parts in
 * flight, on a local repository a temp file renamed on commit. Memory is
 * bounded by the driver's parts in flight, never by the volume size.
 */
#ifndef PGPITR_BACKUP_SINK_H
#define PGPITR_BACKUP_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

struct pitr_sink;
struct pitr_storage;

struct pitr_sink_ops {
    /* Start object key (borrowed for the call). */
    pitr_rc (*open)(struct pitr_sink *s, const char *key, struct pitr_err *err);
    /* Append n bytes (borrowed for the call) to the open object. */
    pitr_rc (*write)(struct pitr_sink *s, const void *p, size_t n, struct pitr_err *err);
    /* Make the object durable and visible under its key; it is closed afterwards. */
    pitr_rc (*commit)(struct pitr_sink *s, struct pitr_err *err);
    /* Drop the open object, if any (no-op otherwise); never fails. */
    void (*abort)(struct pitr_sink *s);
    /* Abort anything open and free the sink. */
    void (*free)(struct pitr_sink *s);
};

/* Implementations embed this as their first member. */
struct pitr_sink {
    const struct pitr_sink_ops *ops;
};

PITR_MUST_CHECK pitr_rc pitr_sink_open(struct pitr_sink *s, const char *key, struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_sink_write(struct pitr_sink *s,
                                        const void *p,
                                        size_t n,
                                        struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_sink_commit(struct pitr_sink *s, struct pitr_err *err);
void pitr_sink_abort(struct pitr_sink *s);
/* NULL is fine. */
void pitr_sink_free(struct pitr_sink *s);

/*
 * The sink over the storage API's streaming writer (see above). st is
 * borrowed and must outlive the sink; a volume larger than limit bytes
 * fails its write with PITR_ELIMIT.
 */
PITR_MUST_CHECK pitr_rc pitr_sink_storage_new(struct pitr_storage *st,
                                              uint64_t limit,
                                              struct pitr_sink **out,
                                              struct pitr_err *err);

/*
 * A sink that passes everything to inner (which it takes: freeing this sink
 * frees inner) and records, for every object committed through it, the
 * object's name (the key's last component), its stored size and the
 * SHA-256 of its stored bytes: what pgpitr.manifest.json lists as
 * "objects", so verify can check stored volumes without a PGDATA.
 */
struct pitr_sink_object {
    char *name; /* owned */
    uint64_t size;
    char sha256[65]; /* lowercase hex */
};

PITR_MUST_CHECK pitr_rc pitr_sink_digest_new(struct pitr_sink *inner,
                                             struct pitr_sink **out,
                                             struct pitr_err *err);
/*
 * The objects committed so far, in commit order; borrowed from s (a digest
 * sink) until it is freed. Read it only when no write is in flight (after
 * the pipeline's streams ended).
 */
const struct pitr_sink_object *pitr_sink_digest_objects(const struct pitr_sink *s, size_t *n);

#endif
