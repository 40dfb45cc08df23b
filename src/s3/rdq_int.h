/*
 * rdq_int.h - the read-ahead buffers of a ranged reader, under a fixed byte
 * budget (module-private).
 *
 * A reader fetches an object as ranges on the pool's connections while its
 * caller consumes the oldest finished one. Every range lands in a buffer of
 * this queue: at most `slots` buffers of `chunk` bytes ever exist (the ranges
 * in flight plus the one being handed out), and a consumed buffer is given
 * back and reused for the next range instead of being freed. So a reader's
 * memory is bounded by slots x chunk whatever the object's size, and a
 * restore of N volumes at once by N times that.
 */
#ifndef PGPITR_S3_RDQ_INT_H
#define PGPITR_S3_RDQ_INT_H

#include <stddef.h>

#include "pgpitr/core/buf.h"

/* A reader's read-ahead when its caller asks for no other: 8 MiB. */
#define PITR_S3_READ_AHEAD_DEFAULT ((size_t)8 * 1024 * 1024)
/* Ranges never get smaller than this (the request overhead would dominate). */
#define PITR_S3_READ_CHUNK_MIN ((size_t)256 * 1024)
/* Ranges are multiples of this. */
#define PITR_S3_READ_CHUNK_ALIGN ((size_t)64 * 1024)

struct pitr_s3_rdq {
    size_t chunk;            /* bytes per range (the buffers' limit) */
    unsigned slots;          /* buffers that may exist at once, at least 2 */
    unsigned made;           /* buffers allocated so far, <= slots */
    unsigned n_spare;        /* given back, ready for reuse */
    struct pitr_buf **spare; /* owned; slots entries, the first n_spare used */
};

/*
 * Plan for a budget of bytes (0: PITR_S3_READ_AHEAD_DEFAULT) read over
 * workers connections (0 counts as 1): one range in flight per connection
 * plus the one handed out, each budget / slots bytes (aligned down); when
 * that would be below PITR_S3_READ_CHUNK_MIN, fewer slots (never below 2) of
 * that minimum. slots x chunk never exceeds the budget, unless the budget is
 * below 2 x PITR_S3_READ_CHUNK_MIN (then it is that). Cannot fail.
 */
void pitr_s3_rdq_init(struct pitr_s3_rdq *q, size_t budget, unsigned workers);
/*
 * An empty buffer (limit chunk) owned by the queue until given back: a spare
 * one when there is one, else a new one while fewer than slots exist; NULL
 * when all slots are taken (the caller must first give one back).
 */
struct pitr_buf *pitr_s3_rdq_take(struct pitr_s3_rdq *q);
/* Give back a buffer from pitr_s3_rdq_take (emptied, its memory kept). NULL is a no-op. */
void pitr_s3_rdq_give(struct pitr_s3_rdq *q, struct pitr_buf *b);
/* The most bytes the queue's buffers may ever hold: slots x chunk. */
size_t pitr_s3_rdq_bound(const struct pitr_s3_rdq *q);
/* Bytes of buffer memory allocated now (each buffer's capacity). */
size_t pitr_s3_rdq_allocated(const struct pitr_s3_rdq *q);
/* Free the spare buffers; every buffer taken must have been given back. */
void pitr_s3_rdq_release(struct pitr_s3_rdq *q);

#endif
