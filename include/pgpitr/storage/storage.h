/*
 * storage.h - the repository as a flat key space, whatever holds it.
 *
 * A repository is a URL plus a server name. The URL picks the driver:
 *   file:///abs/path        posix driver: files under /abs/path
 *   s3://bucket[/prefix]     S3 driver: objects under prefix in bucket
 * Keys given to these functions are relative to the URL's root and use '/'
 * (e.g. "pg1/wals/0000000100000000/000000010000000000000001.gz"); the
 * callers (archive/, later backup/ and restore/) build them and never see
 * which driver is behind.
 *
 * Guarantees every driver gives:
 *   - put() is atomic: a reader sees the whole old object, or the whole new
 *     one, never a part; on success the bytes are durable (fsync'd, or
 *     acknowledged by the object store).
 *   - get()/head() on a missing key return PITR_ENOTFOUND.
 *   - list() reports keys in ascending byte order, all of them (drivers page
 *     through listings themselves).
 *   - A streaming writer (open_write, then write chunks, then exactly one of
 *     commit or abort) is atomic like put(): until commit succeeds nothing
 *     is visible under the key, and after abort or a failed commit nothing
 *     is left behind (posix: a temp file that is fsync'd and renamed, or
 *     unlinked; S3: a multipart upload that is completed, or aborted).
 *     Memory stays bounded whatever the object's length (S3: parts in
 *     flight x part size).
 *   - A streaming reader (open_read with an offset and length) hands out
 *     the bytes in order; S3 fetches large objects with parallel ranged GETs.
 *   - remove_many() removes every key it is given (missing keys are fine)
 *     and fails naming a key it could not remove.
 *
 * put() and get() stay single requests: WAL segments are small.
 */
#ifndef PGPITR_STORAGE_STORAGE_H
#define PGPITR_STORAGE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

struct pitr_config;

struct pitr_obj_info {
    uint64_t size;
    char etag[128]; /* driver-specific; "" when unknown */
};

/*
 * Called once per listed key (relative to the repository root) in ascending
 * order. Return PITR_OK to continue; any other code stops the listing and
 * is returned by list() (with *err filled by the callback).
 */
typedef pitr_rc (*pitr_storage_list_fn)(const char *key,
                                        const struct pitr_obj_info *info,
                                        void *ud,
                                        struct pitr_err *err);

/*
 * Called once per lease (a writer's "<key>.pitr-tmp.<host>.<pid>.<n>"
 * object, hidden from list()) by list_leases: its key relative to the
 * repository root and whether its writer is gone (pitr_fs_temp_is_stale on
 * its last-modified time).
 */
typedef pitr_rc (*pitr_storage_lease_fn)(const char *key,
                                         int stale,
                                         void *ud,
                                         struct pitr_err *err);

/* How often a long-lived lease is stored again (a day-old one is stale). */
#define PITR_STORAGE_LEASE_REFRESH (6 * 3600)

struct pitr_storage;

/* Length argument of open_read meaning "to the end of the object". */
#define PITR_STORAGE_TO_END UINT64_MAX

/* A streaming writer; drivers embed it as their writer's first member. */
struct pitr_storage_writer;
struct pitr_storage_writer_ops {
    pitr_rc (*write)(struct pitr_storage_writer *w, const void *p, size_t n, struct pitr_err *err);
    /* Publish the object and free the writer, whatever the result. */
    pitr_rc (*commit)(struct pitr_storage_writer *w, struct pitr_err *err);
    /* Drop the object and free the writer. */
    void (*abort)(struct pitr_storage_writer *w);
};
struct pitr_storage_writer {
    const struct pitr_storage_writer_ops *ops;
};

/* A streaming reader; drivers embed it as their reader's first member. */
struct pitr_storage_reader;
struct pitr_storage_reader_ops {
    /* Up to cap bytes into p; *got is 0 at the end of the range. */
    pitr_rc (
      *read)(struct pitr_storage_reader *r, void *p, size_t cap, size_t *got, struct pitr_err *err);
    void (*close)(struct pitr_storage_reader *r);
};
struct pitr_storage_reader {
    const struct pitr_storage_reader_ops *ops;
    uint64_t object_size; /* the whole object's size */
};

struct pitr_storage_ops {
    const char *name; /* "posix", "s3" */
    pitr_rc (*put)(struct pitr_storage *st,
                   const char *key,
                   const void *data,
                   size_t len,
                   struct pitr_err *err);
    /*
     * Appends the object's bytes to out. An object larger than out's room
     * (limit - len) fails with PITR_ELIMIT before its body is read (S3: its
     * Content-Length; posix: its size) and never grows out past the limit.
     */
    pitr_rc (*get)(struct pitr_storage *st,
                   const char *key,
                   struct pitr_buf *out,
                   struct pitr_err *err);
    pitr_rc (*head)(struct pitr_storage *st,
                    const char *key,
                    struct pitr_obj_info *info,
                    struct pitr_err *err);
    /* Every key that starts with prefix (no delimiter semantics). */
    pitr_rc (*list)(struct pitr_storage *st,
                    const char *prefix,
                    pitr_storage_list_fn fn,
                    void *ud,
                    struct pitr_err *err);
    /* Removing a missing key is not an error. */
    pitr_rc (*remove)(struct pitr_storage *st, const char *key, struct pitr_err *err);
    /* Remove n keys (S3: DeleteObjects batches); any key not removed is an error naming it. */
    pitr_rc (*remove_many)(struct pitr_storage *st,
                           const char *const *keys,
                           size_t n,
                           struct pitr_err *err);
    /* A writer for key; the caller ends it with commit or abort. */
    pitr_rc (*open_write)(struct pitr_storage *st,
                          const char *key,
                          struct pitr_storage_writer **out,
                          struct pitr_err *err);
    /*
     * A reader of length bytes (PITR_STORAGE_TO_END: all) from offset of
     * key; the caller closes it. A missing key is PITR_ENOTFOUND.
     */
    pitr_rc (*open_read)(struct pitr_storage *st,
                         const char *key,
                         uint64_t offset,
                         uint64_t length,
                         struct pitr_storage_reader **out,
                         struct pitr_err *err);
    /*
     * Remove what writers that died left under prefix; *removed counts
     * them. posix: stale temp files. S3: multipart uploads whose leases all
     * name dead processes of this host (or, without a lease, begun more
     * than PITR_FS_TEMP_MAX_AGE ago) are aborted, then stale leases
     * deleted; a live writer's upload, here or on another host, is left
     * alone. NULL: the driver leaves nothing behind.
     */
    pitr_rc (*cleanup)(struct pitr_storage *st,
                       const char *prefix,
                       size_t *removed,
                       struct pitr_err *err);
    /*
     * Every lease under prefix (S3: all pages; posix: the temp files, whose
     * names follow the same host/pid rule). NULL: the driver has none.
     */
    pitr_rc (*list_leases)(struct pitr_storage *st,
                           const char *prefix,
                           pitr_storage_lease_fn fn,
                           void *ud,
                           struct pitr_err *err);
    void (*free)(struct pitr_storage *st);
    /*
     * 1 when put() is one request that either stores the whole object or
     * nothing (S3 PutObject): a killed put leaves nothing for cleanup to
     * find. 0 (posix: a temp file, then rename): it may leave a temp file.
     */
    int put_leaves_nothing;
};

/* Drivers embed this as their first member. */
struct pitr_storage {
    const struct pitr_storage_ops *ops;
    char *url;            /* owned; the repository URL, for messages (no secrets) */
    uint64_t write_limit; /* see pitr_storage_set_write_limit; 0: unknown */
};

/*
 * Promise that no object written through a writer opened from now on will
 * be larger than bytes (0 withdraws the promise). Drivers may size their
 * buffers by it: S3 keeps its parts small for longer when it knows that a
 * backup volume never exceeds --max-archive-size. Writing more is not
 * checked here; on S3 it can run out of parts.
 */
void pitr_storage_set_write_limit(struct pitr_storage *st, uint64_t bytes);

/*
 * Open the repository named by cfg->repo. On success *out is a new storage
 * object the caller frees with pitr_storage_free(). A malformed or
 * unsupported URL fails with PITR_EUSAGE.
 */
PITR_MUST_CHECK pitr_rc pitr_storage_open(const struct pitr_config *cfg,
                                          struct pitr_storage **out,
                                          struct pitr_err *err);
void pitr_storage_free(struct pitr_storage *st);

/* Thin wrappers that dispatch through ops and add the key to messages. */
PITR_MUST_CHECK pitr_rc pitr_storage_put(struct pitr_storage *st,
                                         const char *key,
                                         const void *data,
                                         size_t len,
                                         struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_storage_get(struct pitr_storage *st,
                                         const char *key,
                                         struct pitr_buf *out,
                                         struct pitr_err *err);
/*
 * pitr_storage_get, taking at most max bytes (and never more than out's
 * room). A bigger object fails with PITR_ELIMIT naming it and both sizes,
 * before its body is read, so a hostile object costs neither the memory nor
 * the time. Pass the size the listing gave, or the most a valid object of
 * its kind can have (a WAL segment: the segment size plus codec overhead).
 */
PITR_MUST_CHECK pitr_rc pitr_storage_get_max(struct pitr_storage *st,
                                             const char *key,
                                             uint64_t max,
                                             struct pitr_buf *out,
                                             struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_storage_head(struct pitr_storage *st,
                                          const char *key,
                                          struct pitr_obj_info *info,
                                          struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_storage_list(struct pitr_storage *st,
                                          const char *prefix,
                                          pitr_storage_list_fn fn,
                                          void *ud,
                                          struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_storage_remove(struct pitr_storage *st,
                                            const char *key,
                                            struct pitr_err *err);

PITR_MUST_CHECK pitr_rc pitr_storage_remove_many(struct pitr_storage *st,
                                                 const char *const *keys,
                                                 size_t n,
                                                 struct pitr_err *err);

/*
 * Streaming writes. The writer is owned by the caller until commit or abort,
 * each of which frees it (commit also on failure, after cleaning up). The
 * storage must outlive its writers and readers.
 */
PITR_MUST_CHECK pitr_rc pitr_storage_open_write(struct pitr_storage *st,
                                                const char *key,
                                                struct pitr_storage_writer **out,
                                                struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_storage_writer_write(struct pitr_storage_writer *w,
                                                  const void *p,
                                                  size_t n,
                                                  struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_storage_writer_commit(struct pitr_storage_writer *w,
                                                   struct pitr_err *err);
/* NULL is a no-op. */
void pitr_storage_writer_abort(struct pitr_storage_writer *w);

/* See the cleanup op; drivers without one remove nothing (*removed = 0). */
PITR_MUST_CHECK pitr_rc pitr_storage_cleanup(struct pitr_storage *st,
                                             const char *prefix,
                                             size_t *removed,
                                             struct pitr_err *err);

/*
 * True when a put() killed midway can leave something under its key for
 * cleanup to remove (the put_leaves_nothing op flag is 0).
 */
int pitr_storage_put_may_leave_temps(const struct pitr_storage *st);

/* True when the driver has list_leases (callers may then keep leases of their own). */
int pitr_storage_has_leases(const struct pitr_storage *st);

/* See the list_leases op; drivers without one report nothing. */
PITR_MUST_CHECK pitr_rc pitr_storage_list_leases(struct pitr_storage *st,
                                                 const char *prefix,
                                                 pitr_storage_lease_fn fn,
                                                 void *ud,
                                                 struct pitr_err *err);

/* Streaming (ranged) reads; close with pitr_storage_reader_close. */
PITR_MUST_CHECK pitr_rc pitr_storage_open_read(struct pitr_storage *st,
                                               const char *key,
                                               uint64_t offset,
                                               uint64_t length,
                                               struct pitr_storage_reader **out,
                                               struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_storage_reader_read(struct pitr_storage_reader *r,
                                                 void *p,
                                                 size_t cap,
                                                 size_t *got,
                                                 struct pitr_err *err);
/* NULL is a no-op. */
void pitr_storage_reader_close(struct pitr_storage_reader *r);

/* Driver constructors (storage.c calls them; tests may too). */
PITR_MUST_CHECK pitr_rc pitr_storage_posix_new(const char *root,
                                               struct pitr_storage **out,
                                               struct pitr_err *err);
/* bucket and prefix come from the s3:// URL; the rest from cfg. */
PITR_MUST_CHECK pitr_rc pitr_storage_s3_new(const struct pitr_config *cfg,
                                            const char *bucket,
                                            const char *prefix,
                                            struct pitr_storage **out,
                                            struct pitr_err *err);

#endif
