/* tarstream.c - the backup pipeline; see include/pgpitr/backup/tarstream.h. */
#include "pgpitr/backup/tarstream.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"

#define DEFAULT_CHUNK ((size_t)1 << 20)
#define READ_SIZE     ((size_t)256 * 1024)
/* gzip pieces get the input before them as a preset dictionary (deflate's window). */
#define DICT_SIZE ((size_t)32768)

enum item_kind { IT_OPEN, IT_DATA, IT_COMMIT };
enum item_state { ST_PENDING, ST_WORKING, ST_DONE };

/* One unit of work, in stream order; the writer consumes them head first. */
struct item {
    struct item *next;
    enum item_kind kind;
    enum item_state state;
    unsigned vol_seq;   /* the volume this item belongs to */
    char *key;          /* owned; IT_OPEN */
    unsigned char *raw; /* owned; IT_DATA: tar bytes */
    size_t raw_len;
    unsigned char *dict; /* owned; IT_DATA: the volume's input just before raw (gzip) */
    size_t dict_len;
    struct pitr_codec_piece piece; /* IT_DATA: compressed (unused for codec none) */
};

struct pitr_tarstream {
    struct pitr_tarstream_opts o;
    char *prefix; /* owned copy of o.key_prefix */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct item *head, *tail; /* under mu */
    size_t nitems, max_items; /* under mu */
    int closing;              /* under mu */
    int failed;               /* under mu */
    struct pitr_err ferr;     /* under mu: the first failure */
    /* Writer progress, under mu. */
    unsigned w_vol_seq;
    uint64_t w_vol_stored, w_vol_raw_done, w_stored;
    unsigned w_commits;

    pthread_t *workers;
    int nworkers;
    pthread_t writer;
    int writer_started;
    /* The writer's own: the open volume's stream (one gzip member, one bzip2 stream). */
    struct pitr_codec_join join;
    struct pitr_buf wbuf;

    /* Producer state (the caller's thread only). */
    struct archive *a;
    char *stream; /* owned; NULL between streams */
    unsigned vol_index;
    unsigned vol_seq;
    char *vol_name; /* owned; the open volume's object name */
    unsigned char *chunk;
    size_t chunk_len, chunk_size;
    unsigned char *dtail; /* the last DICT_SIZE bytes of the volume's input so far */
    size_t dtail_len;
    uint64_t vol_raw, total_raw, file_bytes;
    unsigned commits_sent;
    struct pitr_err cb_err; /* an error raised inside a libarchive callback */
    int cb_failed;
    unsigned char *readbuf;
    struct timespec last_progress;

    struct pitr_manifest_file *files;
    size_t nfiles, capfiles;
    char **volumes;
    size_t nvolumes;

    /* uid/gid name cache */
    uid_t c_uid;
    gid_t c_gid;
    int c_uid_ok, c_gid_ok;
    char c_uname[256], c_gname[256];
};

/* ---- the queue ------------------------------------------------------------ */

static void item_free(struct item *it)
{
    if (it == NULL)
        return;
    pitr_free(it->key);
    pitr_free(it->raw);
    pitr_free(it->dict);
    pitr_codec_piece_release(&it->piece);
    pitr_free(it);
}

/* Record the first failure (mu held). */
static void fail_locked(struct pitr_tarstream *ts, const struct pitr_err *err)
{
    if (!ts->failed) {
        ts->failed = 1;
        ts->ferr = *err;
    }
    pthread_cond_broadcast(&ts->cv);
}

/* Hand an item to the threads; waits while too many are in flight. Takes it. */
static pitr_rc submit(struct pitr_tarstream *ts, struct item *it, struct pitr_err *err)
{
    pthread_mutex_lock(&ts->mu);
    while (ts->nitems >= ts->max_items && !ts->failed)
        pthread_cond_wait(&ts->cv, &ts->mu);
    if (ts->failed) {
        *err = ts->ferr;
        pthread_mutex_unlock(&ts->mu);
        item_free(it);
        return err->code ? err->code : PITR_EGENERAL;
    }
    it->next = NULL;
    if (ts->tail != NULL)
        ts->tail->next = it;
    else
        ts->head = it;
    ts->tail = it;
    ts->nitems++;
    pthread_cond_broadcast(&ts->cv);
    pthread_mutex_unlock(&ts->mu);
    return PITR_OK;
}

static void *worker_main(void *arg)
{
    struct pitr_tarstream *ts = arg;

    pthread_mutex_lock(&ts->mu);
    for (;;) {
        struct item *it;
        struct pitr_err err = { 0 };
        pitr_rc rc = PITR_OK;
        int skip;

        for (it = ts->head; it != NULL; it = it->next)
            if (it->kind == IT_DATA && it->state == ST_PENDING)
                break;
        if (it == NULL) {
            if (ts->closing)
                break;
            pthread_cond_wait(&ts->cv, &ts->mu);
            continue;
        }
        it->state = ST_WORKING;
        skip = ts->failed;
        pthread_mutex_unlock(&ts->mu);
        if (!skip && ts->o.codec != PITR_CODEC_NONE)
            rc = pitr_codec_piece_compress(ts->o.codec,
                                           ts->o.level,
                                           it->dict,
                                           it->dict_len,
                                           it->raw,
                                           it->raw_len,
                                           &it->piece,
                                           &err);
        pthread_mutex_lock(&ts->mu);
        it->state = ST_DONE;
        if (rc != PITR_OK) {
            pitr_err_prefix(&err, "cannot compress backup data");
            fail_locked(ts, &err);
        }
        pthread_cond_broadcast(&ts->cv);
    }
    pthread_mutex_unlock(&ts->mu);
    return NULL;
}

static void *writer_main(void *arg)
{
    struct pitr_tarstream *ts = arg;
    int open = 0;

    pthread_mutex_lock(&ts->mu);
    for (;;) {
        struct item *it = ts->head;
        struct pitr_err err = { 0 };
        pitr_rc rc = PITR_OK;
        uint64_t stored = 0;
        int skip;

        if (it == NULL || (it->kind == IT_DATA && it->state != ST_DONE)) {
            if (it == NULL && ts->closing)
                break;
            pthread_cond_wait(&ts->cv, &ts->mu);
            continue;
        }
        ts->head = it->next;
        if (ts->head == NULL)
            ts->tail = NULL;
        ts->nitems--;
        skip = ts->failed;
        pthread_cond_broadcast(&ts->cv);
        pthread_mutex_unlock(&ts->mu);

        if (!skip) {
            pitr_buf_reset(&ts->wbuf);
            switch (it->kind) {
            case IT_OPEN:
                rc = pitr_sink_open(ts->o.sink, it->key, &err);
                open = rc == PITR_OK;
                if (rc == PITR_OK)
                    rc =
                      pitr_codec_join_begin(&ts->join, ts->o.codec, ts->o.level, &ts->wbuf, &err);
                break;
            case IT_DATA:
                if (ts->o.codec == PITR_CODEC_NONE) {
                    rc = pitr_sink_write(ts->o.sink, it->raw, it->raw_len, &err);
                    stored = it->raw_len;
                } else {
                    rc = pitr_codec_join_add(&ts->join, &it->piece, &ts->wbuf, &err);
                }
                break;
            case IT_COMMIT:
                rc = pitr_codec_join_end(&ts->join, &ts->wbuf, &err);
                break;
            }
            if (rc == PITR_OK && ts->wbuf.len > 0) {
                rc = pitr_sink_write(ts->o.sink, ts->wbuf.data, ts->wbuf.len, &err);
                stored += ts->wbuf.len;
            }
            if (rc == PITR_OK && it->kind == IT_COMMIT) {
                /* A failed commit still needs its abort (sink.h). */
                rc = pitr_sink_commit(ts->o.sink, &err);
                open = rc != PITR_OK;
            }
        }

        pthread_mutex_lock(&ts->mu);
        if (rc != PITR_OK)
            fail_locked(ts, &err);
        if (it->kind == IT_OPEN) {
            ts->w_vol_seq = it->vol_seq;
            ts->w_vol_stored = 0;
            ts->w_vol_raw_done = 0;
        } else if (it->kind == IT_DATA) {
            ts->w_vol_raw_done += it->raw_len;
        } else {
            ts->w_commits++;
        }
        ts->w_vol_stored += stored;
        ts->w_stored += stored;
        pthread_cond_broadcast(&ts->cv);
        pthread_mutex_unlock(&ts->mu);
        item_free(it);
        pthread_mutex_lock(&ts->mu);
    }
    pthread_mutex_unlock(&ts->mu);
    if (open)
        pitr_sink_abort(ts->o.sink);
    return NULL;
}

/* ---- producer: chunks and libarchive callbacks ----------------------------- */

static pitr_rc flush_chunk(struct pitr_tarstream *ts, struct pitr_err *err)
{
    struct item *it;

    if (ts->chunk_len == 0)
        return PITR_OK;
    it = pitr_calloc(1, sizeof(*it));
    it->kind = IT_DATA;
    it->state = ST_PENDING;
    it->vol_seq = ts->vol_seq;
    it->raw = ts->chunk;
    it->raw_len = ts->chunk_len;
    /* Worst case of any codec on incompressible data, plus headers. */
    pitr_codec_piece_init(&it->piece, ts->chunk_size + ts->chunk_size / 8 + 65536);
    if (ts->o.codec == PITR_CODEC_GZIP) {
        size_t keep;

        if (ts->dtail_len > 0) {
            it->dict = pitr_malloc(ts->dtail_len);
            memcpy(it->dict, ts->dtail, ts->dtail_len);
            it->dict_len = ts->dtail_len;
        }
        /* The next piece's dictionary: the last DICT_SIZE bytes up to the end of this one. */
        if (ts->chunk_len >= DICT_SIZE) {
            memcpy(ts->dtail, ts->chunk + ts->chunk_len - DICT_SIZE, DICT_SIZE);
            ts->dtail_len = DICT_SIZE;
        } else {
            keep =
              DICT_SIZE - ts->chunk_len < ts->dtail_len ? DICT_SIZE - ts->chunk_len : ts->dtail_len;
            memmove(ts->dtail, ts->dtail + ts->dtail_len - keep, keep);
            memcpy(ts->dtail + keep, ts->chunk, ts->chunk_len);
            ts->dtail_len = keep + ts->chunk_len;
        }
    }
    ts->chunk = pitr_malloc(ts->chunk_size);
    ts->chunk_len = 0;
    return submit(ts, it, err);
}

static la_ssize_t on_write(struct archive *a, void *ud, const void *buf, size_t n)
{
    struct pitr_tarstream *ts = ud;
    const unsigned char *p = buf;
    size_t left = n;

    (void)a;
    if (ts->cb_failed)
        return -1;
    while (left > 0) {
        size_t take = ts->chunk_size - ts->chunk_len;

        if (take > left)
            take = left;
        memcpy(ts->chunk + ts->chunk_len, p, take);
        ts->chunk_len += take;
        p += take;
        left -= take;
        if (ts->chunk_len == ts->chunk_size && flush_chunk(ts, &ts->cb_err) != PITR_OK) {
            ts->cb_failed = 1;
            return -1;
        }
    }
    ts->vol_raw += n;
    ts->total_raw += n;
    return (la_ssize_t)n;
}

static int on_close(struct archive *a, void *ud)
{
    (void)a;
    (void)ud;
    return ARCHIVE_OK;
}

static pitr_rc ar_fail(struct pitr_tarstream *ts, const char *what, struct pitr_err *err)
{
    if (ts->cb_failed) {
        *err = ts->cb_err;
        return err->code ? err->code : PITR_EGENERAL;
    }
    return pitr_err_set(err,
                        PITR_EINTERNAL,
                        "%s: %s",
                        what,
                        ts->a && archive_error_string(ts->a) ? archive_error_string(ts->a)
                                                             : "libarchive error");
}

/* Report a failure of another thread, or a cancel request, to the producer. */
static pitr_rc check_state(struct pitr_tarstream *ts, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    if (ts->o.cancel != NULL && *ts->o.cancel)
        return pitr_err_set(err, PITR_EGENERAL, "interrupted by a signal");
    pthread_mutex_lock(&ts->mu);
    if (ts->failed) {
        *err = ts->ferr;
        rc = err->code ? err->code : PITR_EGENERAL;
    }
    pthread_mutex_unlock(&ts->mu);
    return rc;
}

static void progress(struct pitr_tarstream *ts, int force)
{
    struct timespec now;
    struct pitr_tarstream_stats st;

    if (ts->o.progress == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!force && (now.tv_sec - ts->last_progress.tv_sec) * 1000000000L +
                      (now.tv_nsec - ts->last_progress.tv_nsec) <
                    500000000L)
        return;
    ts->last_progress = now;
    pitr_tarstream_get_stats(ts, &st);
    ts->o.progress(&st, ts->o.progress_ud);
}

static pitr_rc open_volume(struct pitr_tarstream *ts, struct pitr_err *err)
{
    struct item *it;
    char suffix[16];

    if (ts->vol_index == 0)
        snprintf(suffix, sizeof(suffix), ".tar%s", pitr_codec_suffix(ts->o.codec));
    else
        snprintf(
          suffix, sizeof(suffix), "_%04u.tar%s", ts->vol_index, pitr_codec_suffix(ts->o.codec));
    pitr_free(ts->vol_name);
    ts->vol_name = pitr_asprintf("%s%s", ts->stream, suffix);
    ts->volumes = pitr_realloc(ts->volumes, (ts->nvolumes + 1) * sizeof(*ts->volumes));
    ts->volumes[ts->nvolumes++] = pitr_strdup(ts->vol_name);
    ts->vol_seq++;
    ts->vol_raw = 0;
    ts->dtail_len = 0; /* a new gzip member: nothing before it to refer to */

    it = pitr_calloc(1, sizeof(*it));
    it->kind = IT_OPEN;
    it->state = ST_DONE;
    it->vol_seq = ts->vol_seq;
    it->key = pitr_asprintf("%s%s", ts->prefix, ts->vol_name);
    pitr_codec_piece_init(&it->piece, 0);
    if (submit(ts, it, err) != PITR_OK)
        return err->code;

    ts->a = archive_write_new();
    if (ts->a == NULL)
        return pitr_err_set(err, PITR_ENOMEM, "cannot create a tar writer");
    /* PAX like barman's tarfile; 10240-byte records are libarchive's default too. */
    if (archive_write_set_format_pax(ts->a) != ARCHIVE_OK ||
        archive_write_open(ts->a, ts, NULL, on_write, on_close) != ARCHIVE_OK)
        return ar_fail(ts, "cannot start a tar volume", err);
    return PITR_OK;
}

static pitr_rc close_volume(struct pitr_tarstream *ts, struct pitr_err *err)
{
    struct item *it;
    pitr_rc rc = PITR_OK;

    if (ts->a != NULL) {
        if (archive_write_close(ts->a) != ARCHIVE_OK)
            rc = ar_fail(ts, "cannot finish a tar volume", err);
        archive_write_free(ts->a);
        ts->a = NULL;
    }
    if (rc != PITR_OK)
        return rc;
    rc = flush_chunk(ts, err);
    if (rc != PITR_OK)
        return rc;
    it = pitr_calloc(1, sizeof(*it));
    it->kind = IT_COMMIT;
    it->state = ST_DONE;
    it->vol_seq = ts->vol_seq;
    pitr_codec_piece_init(&it->piece, 0);
    rc = submit(ts, it, err);
    if (rc == PITR_OK)
        ts->commits_sent++;
    return rc;
}

/* Barman's rule: a new volume when the current one already holds more than max. */
static pitr_rc maybe_split(struct pitr_tarstream *ts, struct pitr_err *err)
{
    uint64_t stored, raw_done;
    pitr_rc rc;

    pthread_mutex_lock(&ts->mu);
    stored = ts->w_vol_seq == ts->vol_seq ? ts->w_vol_stored : 0;
    raw_done = ts->w_vol_seq == ts->vol_seq ? ts->w_vol_raw_done : 0;
    pthread_mutex_unlock(&ts->mu);
    /* Pending bytes counted uncompressed: an estimate that never falls short by much. */
    if (stored + (ts->vol_raw - raw_done) <= ts->o.max_volume)
        return PITR_OK;
    if (ts->o.codec != PITR_CODEC_NONE) {
        /* Near the limit: let the pipeline drain to learn the exact compressed size. */
        rc = flush_chunk(ts, err);
        if (rc != PITR_OK)
            return rc;
        pthread_mutex_lock(&ts->mu);
        while (!ts->failed && !(ts->w_vol_seq == ts->vol_seq && ts->w_vol_raw_done == ts->vol_raw))
            pthread_cond_wait(&ts->cv, &ts->mu);
        stored = ts->w_vol_stored;
        pthread_mutex_unlock(&ts->mu);
        rc = check_state(ts, err);
        if (rc != PITR_OK)
            return rc;
        if (stored <= ts->o.max_volume)
            return PITR_OK;
    }
    rc = close_volume(ts, err);
    if (rc != PITR_OK)
        return rc;
    ts->vol_index++;
    return open_volume(ts, err);
}

/* ---- public API ------------------------------------------------------------- */

pitr_rc pitr_tarstream_new(const struct pitr_tarstream_opts *o,
                           struct pitr_tarstream **out,
                           struct pitr_err *err)
{
    struct pitr_tarstream *ts;
    int i;

    *out = NULL;
    if (o->jobs < 1 || o->max_volume < 1 || o->sink == NULL || o->key_prefix == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "tarstream: bad options");
    ts = pitr_calloc(1, sizeof(*ts));
    ts->o = *o;
    ts->prefix = pitr_strdup(o->key_prefix);
    ts->o.key_prefix = ts->prefix;
    ts->chunk_size = o->chunk_size ? o->chunk_size : DEFAULT_CHUNK;
    ts->chunk = pitr_malloc(ts->chunk_size);
    ts->dtail = pitr_malloc(DICT_SIZE);
    ts->readbuf = pitr_malloc(READ_SIZE);
    /* A piece's worst case (as flush_chunk's) plus the stream's header and trailer. */
    pitr_buf_init(&ts->wbuf, ts->chunk_size + ts->chunk_size / 8 + 65536 + 64);
    ts->max_items = (size_t)o->jobs * 2 + 4;
    pthread_mutex_init(&ts->mu, NULL);
    pthread_cond_init(&ts->cv, NULL);
    ts->workers = pitr_calloc((size_t)o->jobs, sizeof(*ts->workers));
    for (i = 0; i < o->jobs; i++) {
        if (pthread_create(&ts->workers[i], NULL, worker_main, ts) != 0)
            break;
        ts->nworkers++;
    }
    if (ts->nworkers == o->jobs && pthread_create(&ts->writer, NULL, writer_main, ts) == 0)
        ts->writer_started = 1;
    if (!ts->writer_started) {
        pitr_tarstream_free(ts);
        return pitr_err_set(err, PITR_EGENERAL, "cannot start the backup threads");
    }
    *out = ts;
    return PITR_OK;
}

pitr_rc pitr_tarstream_begin(struct pitr_tarstream *ts, const char *name, struct pitr_err *err)
{
    pitr_rc rc = check_state(ts, err);

    if (rc != PITR_OK)
        return rc;
    if (ts->stream != NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "tarstream: '%s' not ended", ts->stream);
    ts->stream = pitr_strdup(name);
    ts->vol_index = 0;
    return open_volume(ts, err);
}

static void names_for(struct pitr_tarstream *ts, struct archive_entry *ae, uid_t uid, gid_t gid)
{
    if (!ts->c_uid_ok || ts->c_uid != uid) {
        struct passwd pw, *res = NULL;
        char buf[4096];

        ts->c_uname[0] = '\0';
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
            snprintf(ts->c_uname, sizeof(ts->c_uname), "%s", pw.pw_name);
        ts->c_uid = uid;
        ts->c_uid_ok = 1;
    }
    if (!ts->c_gid_ok || ts->c_gid != gid) {
        struct group gr, *res = NULL;
        char buf[4096];

        ts->c_gname[0] = '\0';
        if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res != NULL)
            snprintf(ts->c_gname, sizeof(ts->c_gname), "%s", gr.gr_name);
        ts->c_gid = gid;
        ts->c_gid_ok = 1;
    }
    if (ts->c_uname[0] != '\0')
        archive_entry_set_uname(ae, ts->c_uname);
    if (ts->c_gname[0] != '\0')
        archive_entry_set_gname(ae, ts->c_gname);
}

static void record_file(struct pitr_tarstream *ts,
                        const char *name,
                        uint64_t size,
                        const unsigned char digest[PITR_SHA256_LEN])
{
    struct pitr_manifest_file *f;

    if (ts->nfiles == ts->capfiles) {
        ts->capfiles = ts->capfiles ? ts->capfiles * 2 : 256;
        ts->files = pitr_realloc(ts->files, ts->capfiles * sizeof(*ts->files));
    }
    f = &ts->files[ts->nfiles++];
    f->path = pitr_strdup(name);
    f->volume = pitr_strdup(ts->vol_name);
    f->size = size;
    pitr_hex_encode(digest, PITR_SHA256_LEN, f->sha256);
}

static pitr_rc write_data(struct pitr_tarstream *ts,
                          struct pitr_sha256 *h,
                          const void *p,
                          size_t n,
                          struct pitr_err *err)
{
    pitr_rc rc = pitr_sha256_update(h, p, n, err);

    if (rc != PITR_OK)
        return rc;
    if (archive_write_data(ts->a, p, n) != (la_ssize_t)n)
        return ar_fail(ts, "cannot write to a tar volume", err);
    ts->file_bytes += n;
    return PITR_OK;
}

/* A reader over a file descriptor (pitr_tarstream_add's files). */
struct fd_reader {
    int fd;
    const char *path;
};

static pitr_rc read_fd(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err)
{
    struct fd_reader *fr = ud;
    ssize_t r;

    do
        r = read(fr->fd, p, cap);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s'", fr->path);
    *got = (size_t)r;
    return PITR_OK;
}

/* Copy exactly size bytes from rd into the tar: a short source is padded with zeros. */
static pitr_rc copy_data(struct pitr_tarstream *ts,
                         pitr_tarstream_read_fn rd,
                         void *ud,
                         uint64_t size,
                         struct pitr_sha256 *h,
                         struct pitr_err *err)
{
    uint64_t done = 0;
    pitr_rc rc;

    while (done < size) {
        size_t want = size - done < READ_SIZE ? (size_t)(size - done) : READ_SIZE;
        size_t r = 0;

        rc = rd(ud, ts->readbuf, want, &r, err);
        if (rc != PITR_OK)
            return rc;
        if (r == 0) {
            /* The file shrank while we read it: pad to the size in the header. */
            memset(ts->readbuf, 0, READ_SIZE);
            while (done < size) {
                want = size - done < READ_SIZE ? (size_t)(size - done) : READ_SIZE;
                rc = write_data(ts, h, ts->readbuf, want, err);
                if (rc != PITR_OK)
                    return rc;
                done += want;
            }
            break;
        }
        rc = write_data(ts, h, ts->readbuf, r, err);
        if (rc != PITR_OK)
            return rc;
        done += (uint64_t)r;
        rc = check_state(ts, err);
        if (rc != PITR_OK)
            return rc;
        progress(ts, 0);
    }
    return PITR_OK;
}

/* One entry, its contents (regular files) read from rd. */
static pitr_rc add_entry(struct pitr_tarstream *ts,
                         const struct pitr_walk_entry *e,
                         pitr_tarstream_read_fn rd,
                         void *ud,
                         struct pitr_err *err)
{
    struct archive_entry *ae = NULL;
    struct pitr_sha256 h = { 0 };
    unsigned char digest[PITR_SHA256_LEN];
    uint64_t size = e->type == PITR_WALK_FILE ? (uint64_t)e->st.st_size : 0;
    pitr_rc rc = maybe_split(ts, err);

    if (rc != PITR_OK)
        goto out;
    ae = archive_entry_new();
    archive_entry_set_pathname(ae, e->name);
    archive_entry_set_perm(ae, e->st.st_mode & 07777);
    archive_entry_set_uid(ae, e->st.st_uid);
    archive_entry_set_gid(ae, e->st.st_gid);
    names_for(ts, ae, e->st.st_uid, e->st.st_gid);
    archive_entry_set_mtime(ae, e->st.st_mtim.tv_sec, e->st.st_mtim.tv_nsec);
    switch (e->type) {
    case PITR_WALK_DIR:
        archive_entry_set_filetype(ae, AE_IFDIR);
        break;
    case PITR_WALK_FILE:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, (la_int64_t)size);
        break;
    case PITR_WALK_SYMLINK:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, e->target);
        break;
    }
    if (archive_write_header(ts->a, ae) < ARCHIVE_WARN) {
        rc = ar_fail(ts, "cannot write a tar header", err);
        goto out;
    }
    if (e->type == PITR_WALK_FILE) {
        rc = pitr_sha256_init(&h, err);
        if (rc == PITR_OK)
            rc = copy_data(ts, rd, ud, size, &h, err);
        if (rc == PITR_OK)
            rc = pitr_sha256_final(&h, digest, err);
        if (rc != PITR_OK)
            goto out;
        record_file(ts, e->name, size, digest);
    }
    progress(ts, 0);
out:
    pitr_sha256_release(&h);
    if (ae != NULL)
        archive_entry_free(ae);
    return rc;
}

pitr_rc pitr_tarstream_add(struct pitr_tarstream *ts,
                           const struct pitr_walk_entry *e,
                           struct pitr_err *err)
{
    struct fd_reader fr = { -1, e->path };
    pitr_rc rc = check_state(ts, err);

    if (rc != PITR_OK)
        return rc;
    if (ts->stream == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "tarstream: add outside a stream");
    if (e->type == PITR_WALK_FILE) {
        fr.fd = open(e->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fr.fd < 0) {
            if (errno == ENOENT)
                return PITR_OK; /* vanished since the walker saw it */
            return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open '%s'", e->path);
        }
    }
    rc = add_entry(ts, e, read_fd, &fr, err);
    if (fr.fd >= 0)
        close(fr.fd);
    return rc;
}

pitr_rc pitr_tarstream_add_from(struct pitr_tarstream *ts,
                                const struct pitr_walk_entry *e,
                                pitr_tarstream_read_fn rd,
                                void *ud,
                                struct pitr_err *err)
{
    pitr_rc rc = check_state(ts, err);

    if (rc != PITR_OK)
        return rc;
    if (ts->stream == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "tarstream: add outside a stream");
    return add_entry(ts, e, rd, ud, err);
}

pitr_rc pitr_tarstream_add_bytes(struct pitr_tarstream *ts,
                                 const char *name,
                                 const void *data,
                                 size_t n,
                                 mode_t mode,
                                 uid_t uid,
                                 gid_t gid,
                                 time_t mtime,
                                 struct pitr_err *err)
{
    struct archive_entry *ae;
    struct pitr_sha256 h = { 0 };
    unsigned char digest[PITR_SHA256_LEN];
    pitr_rc rc = check_state(ts, err);

    if (rc != PITR_OK)
        return rc;
    if (ts->stream == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "tarstream: add outside a stream");
    ae = archive_entry_new();
    archive_entry_set_pathname(ae, name);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, mode & 07777);
    archive_entry_set_uid(ae, uid);
    archive_entry_set_gid(ae, gid);
    names_for(ts, ae, uid, gid);
    archive_entry_set_mtime(ae, mtime, 0);
    archive_entry_set_size(ae, (la_int64_t)n);
    if (archive_write_header(ts->a, ae) < ARCHIVE_WARN)
        rc = ar_fail(ts, "cannot write a tar header", err);
    if (rc == PITR_OK)
        rc = pitr_sha256_init(&h, err);
    if (rc == PITR_OK)
        rc = write_data(ts, &h, data, n, err);
    if (rc == PITR_OK)
        rc = pitr_sha256_final(&h, digest, err);
    if (rc == PITR_OK)
        record_file(ts, name, n, digest);
    pitr_sha256_release(&h);
    archive_entry_free(ae);
    return rc;
}

pitr_rc pitr_tarstream_end(struct pitr_tarstream *ts, struct pitr_err *err)
{
    pitr_rc rc = check_state(ts, err);

    if (rc != PITR_OK)
        return rc;
    if (ts->stream == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "tarstream: end outside a stream");
    rc = close_volume(ts, err);
    if (rc != PITR_OK)
        return rc;
    pthread_mutex_lock(&ts->mu);
    while (!ts->failed && ts->w_commits != ts->commits_sent)
        pthread_cond_wait(&ts->cv, &ts->mu);
    pthread_mutex_unlock(&ts->mu);
    rc = check_state(ts, err);
    if (rc != PITR_OK)
        return rc;
    pitr_free(ts->stream);
    ts->stream = NULL;
    progress(ts, 1);
    return PITR_OK;
}

void pitr_tarstream_get_stats(struct pitr_tarstream *ts, struct pitr_tarstream_stats *out)
{
    pthread_mutex_lock(&ts->mu);
    out->stored_bytes = ts->w_stored;
    out->volumes = ts->w_commits;
    pthread_mutex_unlock(&ts->mu);
    out->raw_bytes = ts->total_raw;
    out->file_bytes = ts->file_bytes;
}

const struct pitr_manifest_file *pitr_tarstream_files(const struct pitr_tarstream *ts, size_t *n)
{
    *n = ts->nfiles;
    return ts->files;
}

const char *const *pitr_tarstream_volumes(const struct pitr_tarstream *ts, size_t *n)
{
    *n = ts->nvolumes;
    return (const char *const *)ts->volumes;
}

void pitr_tarstream_free(struct pitr_tarstream *ts)
{
    size_t i;
    int j;

    if (ts == NULL)
        return;
    /* Whatever is still queued is not wanted: the writer drops it and aborts the sink. */
    pthread_mutex_lock(&ts->mu);
    if (ts->stream != NULL || ts->head != NULL) {
        struct pitr_err e = { 0 };

        pitr_err_set(&e, PITR_EGENERAL, "backup stream abandoned");
        fail_locked(ts, &e);
    }
    pthread_mutex_unlock(&ts->mu);
    if (ts->a != NULL) {
        archive_write_free(ts->a); /* its final flush fails fast now */
        ts->a = NULL;
    }
    pthread_mutex_lock(&ts->mu);
    ts->closing = 1;
    pthread_cond_broadcast(&ts->cv);
    pthread_mutex_unlock(&ts->mu);
    for (j = 0; j < ts->nworkers; j++)
        pthread_join(ts->workers[j], NULL);
    if (ts->writer_started)
        pthread_join(ts->writer, NULL);
    while (ts->head != NULL) {
        struct item *it = ts->head;

        ts->head = it->next;
        item_free(it);
    }
    pthread_mutex_destroy(&ts->mu);
    pthread_cond_destroy(&ts->cv);
    for (i = 0; i < ts->nfiles; i++) {
        pitr_free(ts->files[i].path);
        pitr_free(ts->files[i].volume);
    }
    for (i = 0; i < ts->nvolumes; i++)
        pitr_free(ts->volumes[i]);
    pitr_free(ts->volumes);
    pitr_free(ts->files);
    pitr_free(ts->workers);
    pitr_free(ts->chunk);
    pitr_free(ts->dtail);
    pitr_buf_release(&ts->wbuf);
    pitr_free(ts->readbuf);
    pitr_free(ts->stream);
    pitr_free(ts->vol_name);
    pitr_free(ts->prefix);
    pitr_free(ts);
}
