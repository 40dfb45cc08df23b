/*
 * transfer.h - parallel streaming transfers of one object: a writer that
 * turns a stream of unknown length into one object (multipart upload), and
 * a reader that fetches an object with parallel ranged GETs.
 *
 * Both run their requests on a pool of worker threads. Each worker owns one
 * S3 client (pitr_s3_client_clone), hence one keep-alive connection and TLS
 * session, for the pool's whole lifetime: transfers through the same pool
 * never pay for a new TLS handshake once each worker has connected. We chose
 * this over a curl share handle because a connection is then only ever
 * touched by one thread and needs no locking.
 *
 * Writer: bytes are cut into parts whose size follows a pitr_s3_part_plan
 * (min part size, doubling as the object grows so that max_parts parts hold
 * 5 TiB). An object smaller than the first part goes up as a single PUT when
 * the writer is committed. Otherwise the first full part starts a multipart
 * upload and each part goes to the pool as soon as it is full; at most
 * `inflight` parts are in flight, so memory stays at (inflight + 1) x part
 * size. Any failure (a part, Complete, or the caller's abort) aborts the
 * multipart upload after the parts in flight have finished: no partial
 * object ever becomes visible and no parts are left behind.
 *
 * Reader: the object's size comes from HEAD; chunks are fetched with Range
 * GETs, one per pool connection at a time, and handed out in order; chunk
 * buffers are reused and bounded by `read_ahead` bytes in all. A chunk that
 * comes back short fails the read.
 *
 * Neither the writer nor the reader is thread-safe; the pool is.
 */
#ifndef PGPITR_S3_TRANSFER_H
#define PGPITR_S3_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"
#include "pgpitr/s3/client.h"

struct pitr_s3_pool;
struct pitr_s3_writer;
struct pitr_s3_reader;

/*
 * n_workers threads (1..64), each with a clone of proto (which stays the
 * caller's). The caller frees the pool with pitr_s3_pool_free, after every
 * writer and reader that uses it is finished.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_pool_new(const struct pitr_s3_client *proto,
                                         unsigned n_workers,
                                         struct pitr_s3_pool **out,
                                         struct pitr_err *err);
/* Stop the workers (after the tasks queued so far) and free. NULL is a no-op. */
void pitr_s3_pool_free(struct pitr_s3_pool *pool);
unsigned pitr_s3_pool_size(const struct pitr_s3_pool *pool);

struct pitr_s3_writer_opts {
    uint64_t part_size; /* first part; 5 MiB..5 GiB */
    unsigned max_parts; /* 1..10000 */
    uint64_t max_size;  /* the object's largest possible size; 0: unknown (5 TiB) */
    unsigned inflight;  /* parts uploading at once; 0: the pool's size */
    /*
     * Borrowed (copied); NULL: none. The key of an empty "lease" object
     * stored before CreateMultipartUpload, stored again every
     * PITR_S3_LEASE_REFRESH seconds while parts go up, and removed once
     * the upload is completed or aborted. A writer killed mid-upload leaves
     * it beside its upload, so a later cleanup can tell a dead writer's
     * upload from a live one's by the lease's name (see storage/s3.c).
     */
    const char *lease_key;
};

/* A writer stores its lease again after this many seconds (a quarter of a day). */
#define PITR_S3_LEASE_REFRESH (6 * 3600)

/*
 * A writer for key. c (used for Create, Complete, Abort and the single PUT
 * on the caller's thread) and pool are borrowed and must outlive the
 * writer. Nothing is sent until a part is full or the writer is committed.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_writer_open(struct pitr_s3_client *c,
                                            struct pitr_s3_pool *pool,
                                            const char *key,
                                            const struct pitr_s3_writer_opts *opts,
                                            struct pitr_s3_writer **out,
                                            struct pitr_err *err);
/* Append n bytes. After a failure every later write fails the same way. */
PITR_MUST_CHECK pitr_rc pitr_s3_writer_write(struct pitr_s3_writer *w,
                                             const void *p,
                                             size_t n,
                                             struct pitr_err *err);
/*
 * Finish the object and free the writer (whatever the result). On failure
 * the upload has been aborted and the key is as it was before.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_writer_commit(struct pitr_s3_writer *w, struct pitr_err *err);
/* Abandon the object (abort the multipart upload) and free. NULL is a no-op. */
void pitr_s3_writer_abort(struct pitr_s3_writer *w);
/* Bytes written so far, and parts started so far (0 while below one part). */
uint64_t pitr_s3_writer_bytes(const struct pitr_s3_writer *w);
unsigned pitr_s3_writer_parts(const struct pitr_s3_writer *w);
/*
 * Test seam: the upload id of the multipart upload in progress (borrowed),
 * or NULL before the first part.
 */
const char *pitr_s3_writer_upload_id(const struct pitr_s3_writer *w);

struct pitr_s3_reader_opts {
    uint64_t offset; /* first byte to read */
    uint64_t length; /* bytes to read; UINT64_MAX: to the end of the object */
    /*
     * Bytes of ranges fetched or held at once (0: 8 MiB), split into one
     * range per pool connection plus the one being read: the reader's memory
     * stays within it whatever the object's size (see src/s3/rdq_int.h).
     */
    size_t read_ahead;
};

/*
 * A reader for key (HEAD first: a missing key is PITR_ENOTFOUND). c and
 * pool are borrowed and must outlive the reader. An offset past the end is
 * PITR_EUSAGE; a length past the end is cut to the end.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_reader_open(struct pitr_s3_client *c,
                                            struct pitr_s3_pool *pool,
                                            const char *key,
                                            const struct pitr_s3_reader_opts *opts,
                                            struct pitr_s3_reader **out,
                                            struct pitr_err *err);
/* Copy up to cap bytes into p; *got is 0 at the end. */
PITR_MUST_CHECK pitr_rc pitr_s3_reader_read(struct pitr_s3_reader *r,
                                            void *p,
                                            size_t cap,
                                            size_t *got,
                                            struct pitr_err *err);
/* The whole object's size (from HEAD). */
uint64_t pitr_s3_reader_object_size(const struct pitr_s3_reader *r);
/* Wait for the GETs in flight and free. NULL is a no-op. */
void pitr_s3_reader_close(struct pitr_s3_reader *r);

#endif
