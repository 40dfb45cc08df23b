/* transfer.c - worker pool, streaming multipart writer, parallel ranged reader; see s3/transfer.h.
 */
#include "pgpitr/s3/transfer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "s3/partplan_int.h"
#include "s3/rdq_int.h"

/* ---- pool --------------------------------------------------------------- */

enum task_state {
    TASK_IDLE = 0,
    TASK_QUEUED,
    TASK_RUNNING,
    TASK_DONE,
};

struct task;
typedef pitr_rc (*task_fn)(struct task *t, struct pitr_s3_client *c, struct pitr_err *err);

/* A unit of work; embedded first in the writer's and reader's jobs. */
struct task {
    task_fn fn;
    enum task_state state; /* under the pool's lock */
    pitr_rc rc;            /* when TASK_DONE */
    struct pitr_err err;   /* when TASK_DONE and rc != PITR_OK */
    struct task *next;     /* queue link */
};

struct worker {
    struct pitr_s3_pool *pool;
    struct pitr_s3_client *client; /* owned; this worker's connection */
    pthread_t thread;
    int started;
};

struct pitr_s3_pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a task was queued, or stop */
    pthread_cond_t done; /* a task finished */
    struct task *head, *tail;
    int stop;
    struct worker *workers; /* owned; n of them */
    unsigned n;
};

static void *worker_main(void *ud)
{
    struct worker *w = ud;
    struct pitr_s3_pool *pool = w->pool;
    struct task *t;
    struct pitr_err err;
    pitr_rc rc;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->head == NULL && !pool->stop)
            pthread_cond_wait(&pool->work, &pool->lock);
        if (pool->head == NULL)
            break; /* stop, and nothing left */
        t = pool->head;
        pool->head = t->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        t->state = TASK_RUNNING;
        pthread_mutex_unlock(&pool->lock);

        pitr_err_clear(&err);
        rc = t->fn(t, w->client, &err);

        pthread_mutex_lock(&pool->lock);
        t->rc = rc;
        t->err = err;
        t->state = TASK_DONE;
        pthread_cond_broadcast(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

void pitr_s3_pool_free(struct pitr_s3_pool *pool)
{
    unsigned i;

    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (i = 0; i < pool->n; i++) {
        if (pool->workers[i].started)
            pthread_join(pool->workers[i].thread, NULL);
        pitr_s3_client_free(pool->workers[i].client);
    }
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->lock);
    pitr_free(pool->workers);
    pitr_free(pool);
}

pitr_rc pitr_s3_pool_new(const struct pitr_s3_client *proto,
                         unsigned n_workers,
                         struct pitr_s3_pool **out,
                         struct pitr_err *err)
{
    struct pitr_s3_pool *pool;
    unsigned i;
    pitr_rc rc = PITR_OK;

    *out = NULL;
    if (n_workers < 1 || n_workers > 64)
        return pitr_err_set(err, PITR_EUSAGE, "invalid number of S3 workers %u", n_workers);
    pool = pitr_calloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->workers = pitr_calloc(n_workers, sizeof(*pool->workers));
    pool->n = n_workers;
    for (i = 0; i < n_workers; i++) {
        struct worker *w = &pool->workers[i];

        w->pool = pool;
        rc = pitr_s3_client_clone(proto, &w->client, err);
        if (rc != PITR_OK)
            goto out;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            rc = pitr_err_set(err, PITR_EGENERAL, "cannot start an S3 worker thread");
            goto out;
        }
        w->started = 1;
    }
    *out = pool;
    pool = NULL;
out:
    pitr_s3_pool_free(pool);
    return rc;
}

unsigned pitr_s3_pool_size(const struct pitr_s3_pool *pool)
{
    return pool->n;
}

static void pool_submit(struct pitr_s3_pool *pool, struct task *t)
{
    pthread_mutex_lock(&pool->lock);
    t->state = TASK_QUEUED;
    t->rc = PITR_OK;
    t->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = t;
    else
        pool->head = t;
    pool->tail = t;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->lock);
}

/* Wait until t is done; its rc and err are then stable. */
static void pool_wait(struct pitr_s3_pool *pool, struct task *t)
{
    pthread_mutex_lock(&pool->lock);
    while (t->state != TASK_DONE)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

/* ---- writer ------------------------------------------------------------- */

struct part_job {
    struct task task; /* first */
    struct pitr_s3_writer *w;
    unsigned number;
    struct pitr_buf data; /* owned */
    char etag[128];
};

struct pitr_s3_writer {
    struct pitr_s3_client *c;  /* borrowed */
    struct pitr_s3_pool *pool; /* borrowed */
    char *key;                 /* owned */
    char *upload_id;           /* owned; NULL until the first part is full */
    char *lease_key;           /* owned; NULL: no lease object */
    int leased;                /* the lease object was stored (and must be removed) */
    time_t lease_at;           /* when it was last stored */
    struct pitr_s3_part_plan plan;
    unsigned max_inflight;
    struct pitr_buf cur;        /* the part being filled */
    unsigned cur_number;        /* its part number */
    struct part_job **inflight; /* owned; FIFO of max_inflight slots */
    unsigned head, n_inflight;
    struct pitr_buf *spare; /* owned; n_spare emptied part buffers, kept for reuse */
    unsigned n_spare;
    struct pitr_s3_part *parts; /* owned; uploaded parts in order */
    size_t n_parts;
    uint64_t bytes;
    atomic_int cancel;    /* read by the workers: skip parts not yet started */
    pitr_rc failed;       /* the first failure, or PITR_OK */
    struct pitr_err ferr; /* its error */
};

static pitr_rc upload_part(struct task *t, struct pitr_s3_client *c, struct pitr_err *err)
{
    struct part_job *j = (struct part_job *)t;
    struct pitr_s3_writer *w = j->w;

    if (atomic_load(&w->cancel))
        return pitr_err_set(err, PITR_EGENERAL, "part %u cancelled", j->number);
    return pitr_s3_multipart_upload_part(
      c, w->key, w->upload_id, j->number, j->data.data, j->data.len, j->etag, err);
}

static void record_failure(struct pitr_s3_writer *w, pitr_rc rc, const struct pitr_err *err)
{
    if (w->failed != PITR_OK)
        return;
    w->failed = rc;
    w->ferr = *err;
    atomic_store(&w->cancel, 1);
}

/* Wait for the oldest part in flight and take its result. */
static void reap_one(struct pitr_s3_writer *w)
{
    struct part_job *j = w->inflight[w->head];

    pool_wait(w->pool, &j->task);
    w->head = (w->head + 1) % w->max_inflight;
    w->n_inflight--;
    if (j->task.rc != PITR_OK) {
        record_failure(w, j->task.rc, &j->task.err);
    } else {
        w->parts[w->n_parts].number = j->number;
        snprintf(w->parts[w->n_parts].etag, sizeof(w->parts[0].etag), "%s", j->etag);
        w->n_parts++;
    }
    /*
     * Keep the buffer for a later part: allocating and freeing a part-sized
     * block per part makes glibc raise its mmap threshold and keep such
     * blocks in the heap afterwards, which showed as extra RSS.
     */
    if (w->n_spare <= w->max_inflight) {
        pitr_buf_reset(&j->data);
        w->spare[w->n_spare++] = j->data;
    } else {
        pitr_buf_release(&j->data);
    }
    pitr_free(j);
}

static void reap_all(struct pitr_s3_writer *w)
{
    while (w->n_inflight > 0)
        reap_one(w);
}

static pitr_rc start_part_buffer(struct pitr_s3_writer *w, struct pitr_err *err)
{
    uint64_t size = pitr_s3_part_size(&w->plan, w->cur_number);

    /* A spare of the right size, if any; spares of another size are dropped. */
    while (w->n_spare > 0) {
        struct pitr_buf *b = &w->spare[--w->n_spare];

        if (b->limit == (size_t)size) {
            w->cur = *b;
            return PITR_OK;
        }
        pitr_buf_release(b);
    }
    pitr_buf_init(&w->cur, (size_t)size);
    return pitr_buf_grow(&w->cur, (size_t)size, err);
}

/*
 * Store (or refresh) the lease object that tells a later cleanup this
 * upload's writer is alive; see pitr_s3_writer_opts.lease_key.
 */
static pitr_rc put_lease(struct pitr_s3_writer *w, struct pitr_err *err)
{
    pitr_rc rc = pitr_s3_put_object(w->c, w->lease_key, "", 0, err);

    if (rc != PITR_OK)
        return pitr_err_prefix(err, "lease of the multipart upload of '%s'", w->key);
    w->leased = 1;
    w->lease_at = time(NULL);
    return PITR_OK;
}

static void drop_lease(struct pitr_s3_writer *w)
{
    struct pitr_err lerr;

    if (!w->leased)
        return;
    pitr_err_clear(&lerr);
    if (pitr_s3_delete_object(w->c, w->lease_key, &lerr) != PITR_OK && lerr.http_status != 404)
        pitr_log_warn("cannot remove the lease object '%s' (the next cleanup will): %s",
                      w->lease_key,
                      lerr.msg);
    w->leased = 0;
}

/* Hand the full (or last) part to the pool. */
static pitr_rc send_part(struct pitr_s3_writer *w, struct pitr_err *err)
{
    struct part_job *j;
    pitr_rc rc;

    if (w->lease_key != NULL && w->upload_id == NULL) {
        /* The lease first: an upload must never exist without it. */
        rc = put_lease(w, err);
        if (rc != PITR_OK)
            return rc;
    } else if (w->leased && time(NULL) - w->lease_at > PITR_S3_LEASE_REFRESH) {
        struct pitr_err lerr;

        pitr_err_clear(&lerr);
        if (put_lease(w, &lerr) != PITR_OK)
            pitr_log_warn("%s", lerr.msg);
    }
    if (w->upload_id == NULL) {
        rc = pitr_s3_multipart_create(w->c, w->key, &w->upload_id, err);
        if (rc != PITR_OK)
            return rc;
        pitr_log_debug("s3: multipart upload of '%s' started", w->key);
    }
    if (w->n_inflight == w->max_inflight)
        reap_one(w);
    if (w->failed != PITR_OK) {
        *err = w->ferr;
        return w->failed;
    }
    j = pitr_calloc(1, sizeof(*j));
    j->task.fn = upload_part;
    j->w = w;
    j->number = w->cur_number;
    j->data = w->cur; /* the job owns the buffer now */
    w->inflight[(w->head + w->n_inflight) % w->max_inflight] = j;
    w->n_inflight++;
    pool_submit(w->pool, &j->task);
    w->cur_number++;
    if (w->cur_number > w->plan.max_parts) {
        pitr_buf_init(&w->cur, 0); /* no room: a further write fails */
        return PITR_OK;
    }
    return start_part_buffer(w, err);
}

static pitr_rc too_big(struct pitr_s3_writer *w, struct pitr_err *err)
{
    return pitr_err_set(err,
                        PITR_ELIMIT,
                        "PUT 's3://%s/%s': object larger than the %llu bytes %u parts hold "
                        "(HINT: raise part-size or max-parts)",
                        pitr_s3_client_bucket(w->c),
                        w->key,
                        (unsigned long long)w->plan.capacity,
                        w->plan.max_parts);
}

pitr_rc pitr_s3_writer_open(struct pitr_s3_client *c,
                            struct pitr_s3_pool *pool,
                            const char *key,
                            const struct pitr_s3_writer_opts *opts,
                            struct pitr_s3_writer **out,
                            struct pitr_err *err)
{
    struct pitr_s3_writer *w;
    pitr_rc rc;

    *out = NULL;
    w = pitr_calloc(1, sizeof(*w));
    pitr_buf_init(&w->cur, 0);
    rc = pitr_s3_part_plan_init(&w->plan, opts->part_size, opts->max_parts, opts->max_size, err);
    if (rc != PITR_OK) {
        pitr_free(w);
        return rc;
    }
    w->c = c;
    w->pool = pool;
    w->key = pitr_strdup(key);
    w->lease_key = opts->lease_key ? pitr_strdup(opts->lease_key) : NULL;
    w->max_inflight = opts->inflight ? opts->inflight : pitr_s3_pool_size(pool);
    w->inflight = pitr_calloc(w->max_inflight, sizeof(*w->inflight));
    w->spare = pitr_calloc((size_t)w->max_inflight + 1, sizeof(*w->spare));
    w->parts = pitr_calloc(opts->max_parts, sizeof(*w->parts));
    w->cur_number = 1;
    atomic_init(&w->cancel, 0);
    rc = start_part_buffer(w, err);
    if (rc != PITR_OK) {
        pitr_s3_writer_abort(w);
        return rc;
    }
    *out = w;
    return PITR_OK;
}

pitr_rc pitr_s3_writer_write(struct pitr_s3_writer *w,
                             const void *p,
                             size_t n,
                             struct pitr_err *err)
{
    const char *s = p;
    pitr_rc rc;

    while (n > 0) {
        size_t room = w->cur.limit - w->cur.len;
        size_t take = n < room ? n : room;

        if (w->failed != PITR_OK) {
            *err = w->ferr;
            return w->failed;
        }
        if (w->cur_number > w->plan.max_parts) {
            rc = too_big(w, err);
            record_failure(w, rc, err);
            return rc;
        }
        memcpy(w->cur.data + w->cur.len, s, take);
        pitr_buf_commit(&w->cur, take);
        w->bytes += take;
        s += take;
        n -= take;
        if (w->cur.len == w->cur.limit) {
            rc = send_part(w, err);
            if (rc != PITR_OK) {
                record_failure(w, rc, err);
                return rc;
            }
        }
    }
    return PITR_OK;
}

static void writer_free(struct pitr_s3_writer *w)
{
    while (w->n_spare > 0)
        pitr_buf_release(&w->spare[--w->n_spare]);
    pitr_free(w->spare);
    drop_lease(w);
    pitr_free(w->lease_key);
    pitr_buf_release(&w->cur);
    pitr_free(w->inflight);
    pitr_free(w->parts);
    pitr_free(w->upload_id);
    pitr_free(w->key);
    pitr_free(w);
}

/* Wait for the parts in flight, then abort the upload (if one was started). */
static void abort_upload(struct pitr_s3_writer *w)
{
    struct pitr_err aerr;

    atomic_store(&w->cancel, 1);
    reap_all(w);
    if (w->upload_id == NULL)
        return;
    pitr_err_clear(&aerr);
    if (pitr_s3_multipart_abort(w->c, w->key, w->upload_id, &aerr) != PITR_OK)
        pitr_log_warn("cannot abort the multipart upload of '%s' (its parts stay until a "
                      "lifecycle rule removes them): %s",
                      w->key,
                      aerr.msg);
    else
        pitr_log_debug("s3: multipart upload of '%s' aborted", w->key);
}

pitr_rc pitr_s3_writer_commit(struct pitr_s3_writer *w, struct pitr_err *err)
{
    pitr_rc rc = w->failed;

    if (rc != PITR_OK) {
        *err = w->ferr;
        goto fail;
    }
    if (w->upload_id == NULL) {
        /* Below one part: a single PUT. */
        rc = pitr_s3_put_object(w->c, w->key, w->cur.data, w->cur.len, err);
        writer_free(w);
        return rc;
    }
    if (w->cur.len > 0) {
        rc = send_part(w, err);
        if (rc != PITR_OK)
            goto fail;
    }
    reap_all(w);
    if (w->failed != PITR_OK) {
        rc = w->failed;
        *err = w->ferr;
        goto fail;
    }
    rc = pitr_s3_multipart_complete(w->c, w->key, w->upload_id, w->parts, w->n_parts, err);
    if (rc != PITR_OK)
        goto fail;
    pitr_log_debug("s3: '%s' stored in %zu parts", w->key, w->n_parts);
    writer_free(w);
    return PITR_OK;
fail:
    abort_upload(w);
    writer_free(w);
    return rc;
}

void pitr_s3_writer_abort(struct pitr_s3_writer *w)
{
    if (w == NULL)
        return;
    abort_upload(w);
    writer_free(w);
}

uint64_t pitr_s3_writer_bytes(const struct pitr_s3_writer *w)
{
    return w->bytes;
}

unsigned pitr_s3_writer_parts(const struct pitr_s3_writer *w)
{
    return w->upload_id == NULL ? 0 : w->cur_number - 1;
}

const char *pitr_s3_writer_upload_id(const struct pitr_s3_writer *w)
{
    return w->upload_id;
}

/* ---- reader ------------------------------------------------------------- */

struct range_job {
    struct task task; /* first */
    struct pitr_s3_reader *r;
    uint64_t off;
    size_t len;
    struct pitr_buf *data; /* borrowed from r->q until the job is freed */
};

struct pitr_s3_reader {
    struct pitr_s3_client *c;  /* borrowed */
    struct pitr_s3_pool *pool; /* borrowed */
    char *key;                 /* owned */
    uint64_t object_size;
    uint64_t next_off;           /* next byte to request */
    uint64_t end;                /* one past the last byte to read */
    struct pitr_s3_rdq q;        /* owned; every range's buffer, bounded */
    unsigned max_inflight;       /* q.slots: the ring's size */
    struct range_job **inflight; /* owned; FIFO */
    unsigned head, n_inflight;
    struct range_job *cur; /* owned; the chunk being handed out */
    size_t cur_pos;
    pitr_rc failed;
    struct pitr_err ferr;
};

static pitr_rc get_range(struct task *t, struct pitr_s3_client *c, struct pitr_err *err)
{
    struct range_job *j = (struct range_job *)t;

    pitr_rc rc;

    /* The whole range at once: no regrowth and copying while it arrives. */
    rc = pitr_buf_grow(j->data, j->len, err);
    if (rc != PITR_OK)
        return rc;
    return pitr_s3_get_range(c, j->r->key, j->off, j->len, j->data, err);
}

static void submit_ranges(struct pitr_s3_reader *r)
{
    /* As many ranges as the queue has free buffers: never more than its bound. */
    while (r->n_inflight < r->max_inflight && r->next_off < r->end) {
        struct pitr_buf *b = pitr_s3_rdq_take(&r->q);
        struct range_job *j;
        uint64_t left = r->end - r->next_off;

        if (b == NULL)
            break;
        j = pitr_calloc(1, sizeof(*j));
        j->task.fn = get_range;
        j->r = r;
        j->off = r->next_off;
        j->len = (size_t)(left < r->q.chunk ? left : r->q.chunk);
        j->data = b;
        r->next_off += j->len;
        r->inflight[(r->head + r->n_inflight) % r->max_inflight] = j;
        r->n_inflight++;
        pool_submit(r->pool, &j->task);
    }
}

static struct range_job *take_oldest(struct pitr_s3_reader *r)
{
    struct range_job *j = r->inflight[r->head];

    pool_wait(r->pool, &j->task);
    r->head = (r->head + 1) % r->max_inflight;
    r->n_inflight--;
    return j;
}

/* Free a finished job, its buffer back to the queue for the next range. */
static void range_job_free(struct pitr_s3_reader *r, struct range_job *j)
{
    if (j == NULL)
        return;
    pitr_s3_rdq_give(&r->q, j->data);
    pitr_free(j);
}

void pitr_s3_reader_close(struct pitr_s3_reader *r)
{
    if (r == NULL)
        return;
    while (r->n_inflight > 0)
        range_job_free(r, take_oldest(r));
    range_job_free(r, r->cur);
    pitr_s3_rdq_release(&r->q);
    pitr_free(r->inflight);
    pitr_free(r->key);
    pitr_free(r);
}

pitr_rc pitr_s3_reader_open(struct pitr_s3_client *c,
                            struct pitr_s3_pool *pool,
                            const char *key,
                            const struct pitr_s3_reader_opts *opts,
                            struct pitr_s3_reader **out,
                            struct pitr_err *err)
{
    struct pitr_s3_object_info info;
    struct pitr_s3_reader *r;
    pitr_rc rc;

    *out = NULL;
    rc = pitr_s3_head_object(c, key, &info, err);
    if (rc != PITR_OK)
        return rc;
    if (opts->offset > info.size)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "GET 's3://%s/%s': offset %llu is past the end (%llu bytes)",
                            pitr_s3_client_bucket(c),
                            key,
                            (unsigned long long)opts->offset,
                            (unsigned long long)info.size);
    r = pitr_calloc(1, sizeof(*r));
    r->c = c;
    r->pool = pool;
    r->key = pitr_strdup(key);
    r->object_size = info.size;
    r->next_off = opts->offset;
    r->end = opts->length >= info.size - opts->offset ? info.size : opts->offset + opts->length;
    /*
     * One range in flight per connection while the reader hands out the
     * oldest finished one; memory: the queue's bound, whatever the object.
     */
    pitr_s3_rdq_init(&r->q, opts->read_ahead, pitr_s3_pool_size(pool));
    r->max_inflight = r->q.slots;
    r->inflight = pitr_calloc(r->max_inflight, sizeof(*r->inflight));
    submit_ranges(r);
    *out = r;
    return PITR_OK;
}

pitr_rc pitr_s3_reader_read(struct pitr_s3_reader *r,
                            void *p,
                            size_t cap,
                            size_t *got,
                            struct pitr_err *err)
{
    size_t n = 0;

    *got = 0;
    if (r->failed != PITR_OK) {
        *err = r->ferr;
        return r->failed;
    }
    while (n < cap) {
        size_t take;

        if (r->cur == NULL || r->cur_pos == r->cur->data->len) {
            range_job_free(r, r->cur);
            r->cur = NULL;
            if (r->n_inflight == 0)
                break; /* the end */
            r->cur = take_oldest(r);
            r->cur_pos = 0;
            submit_ranges(r);
            if (r->cur->task.rc != PITR_OK) {
                r->failed = r->cur->task.rc;
                r->ferr = r->cur->task.err;
                *err = r->ferr;
                return r->failed;
            }
        }
        take = r->cur->data->len - r->cur_pos;
        if (take > cap - n)
            take = cap - n;
        memcpy((char *)p + n, r->cur->data->data + r->cur_pos, take);
        r->cur_pos += take;
        n += take;
    }
    *got = n;
    return PITR_OK;
}

uint64_t pitr_s3_reader_object_size(const struct pitr_s3_reader *r)
{
    return r->object_size;
}
