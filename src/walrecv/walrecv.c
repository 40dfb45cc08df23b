/*
 * walrecv.c - the wal-receive engine; see walrecv/walrecv.h.
 *
 * One thread: read the stream, write the spool, and do the durable work
 * (fsync, and with synchronous also the upload of the partial segment)
 * whenever the socket is drained, sync_bytes are pending or sync_interval
 * has passed since the oldest pending byte. Only then does the flush
 * position in the status update move, so the server's slot and its
 * synchronous commit never run ahead of what is kept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/archive/archive.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/pg/repl.h"
#include "pgpitr/storage/storage.h"
#include "pgpitr/wal/wal.h"
#include "pgpitr/walrecv/walrecv.h"
#include "walrecv_int.h"

#define BACKOFF_MIN_MS   1000
#define BACKOFF_MAX_MS   30000
#define STABLE_MS        30000 /* a session this long resets the back-off */
#define MAX_WAIT_MS      1000  /* the longest single wait for the socket */
#define DRAIN_MAX_MSGS   4096  /* messages handled before durable work is looked at */
#define SPOOL_LIST_LIMIT 100000
#define PACK_BLOCK       ((uint32_t)256 * 1024) /* divides every segment size (>= 1 MiB) */

struct rx {
    const struct pitr_walrecv_opts *o;
    struct pitr_storage *st; /* borrowed; one handle (one connection) for the process */
    struct pitr_push_opts push;
    uint32_t seg_size; /* 0 until the first server told it */
    char systemid[32];
    uint32_t tli;
    uint64_t pos; /* next LSN expected; 0: not known yet */
    /* The segment in progress. */
    int fd; /* -1: none open */
    char seg_name[25];
    uint8_t *seg;     /* owned; seg_size bytes, the segment as in the spool */
    uint64_t synced;  /* fsync'd up to here */
    uint64_t stored;  /* in the object store up to here */
    uint64_t partial; /* the stored .partial covers up to here */
    uint64_t reported;
    int64_t pending_since_ms; /* oldest byte not durable; 0: none */
    int64_t last_partial_ms;
    int64_t last_status_ms;
    uint32_t history_done; /* history files up to this timeline are archived */
    struct pitr_buf msg;
    /*
     * The .partial object is built from pieces (codec/codec.h) of PACK_BLOCK
     * bytes: a block wholly behind pos is compressed once and kept, the block
     * holding pos is compressed at every upload, the zero blocks after it
     * reuse one compressed zero block. An upload then costs one block of
     * compression, whatever the segment's fill.
     */
    struct pitr_codec_piece *frozen; /* owned; seg_size / PACK_BLOCK slots */
    size_t nfrozen;                  /* blocks [0, nfrozen) are in frozen */
    struct pitr_codec_piece zero;    /* owned; a compressed block of zeros */
    int have_zero;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t seg_start(const struct rx *r, uint64_t lsn)
{
    return lsn - lsn % r->seg_size;
}

static void seg_name_of(uint32_t tli, uint64_t lsn, uint32_t seg_size, char out[25])
{
    pitr_pg_lsn_walfile(tli, lsn, seg_size, out);
}

static uint64_t durable(const struct rx *r)
{
    return r->o->synchronous ? r->stored : r->synced;
}

static char *spool_path(const struct rx *r, const char *name, const char *suffix)
{
    return pitr_asprintf("%s/%s%s", r->o->spool_dir, name, suffix);
}

static pitr_rc io_fail(struct pitr_err *err, const char *what, const char *path)
{
    return pitr_err_set(
      err, PITR_EIO, "cannot %s spool file '%s': %s", what, path, strerror(errno));
}

static pitr_rc fsync_spool_dir(const struct rx *r, struct pitr_err *err)
{
    return pitr_fs_fsync_dir(r->o->spool_dir, err);
}

/* ---- object store ------------------------------------------------------ */

/* "<server>/wals/<hash>/<segment>.partial" (no suffix); owned by the caller. */
static char *partial_stem(const struct rx *r, const char *seg, struct pitr_err *err)
{
    char name[40];

    snprintf(name, sizeof(name), "%s.partial", seg);
    return pitr_wal_key_stem(r->o->server, name, err);
}

struct rm_ctx {
    const char *stem;
    size_t stem_len;
    char *keys[PITR_CODEC_COUNT + 1];
    size_t n;
};

static pitr_rc collect_partial(const char *key,
                               const struct pitr_obj_info *info,
                               void *ud,
                               struct pitr_err *err)
{
    struct rm_ctx *c = ud;
    size_t base_len;

    (void)info;
    (void)err;
    (void)pitr_codec_from_suffix(key, &base_len);
    if (base_len == c->stem_len && strncmp(key, c->stem, c->stem_len) == 0 &&
        c->n < sizeof(c->keys) / sizeof(c->keys[0]))
        c->keys[c->n++] = pitr_strdup(key);
    return PITR_OK;
}

/* Remove the stored .partial objects of seg (every suffix), once the full segment is stored. */
static pitr_rc remove_partials(struct rx *r, const char *seg, struct pitr_err *err)
{
    struct rm_ctx c = { 0 };
    char *stem = partial_stem(r, seg, err);
    pitr_rc rc;
    size_t i;

    if (stem == NULL)
        return err->code;
    c.stem = stem;
    c.stem_len = strlen(stem);
    rc = pitr_storage_list(r->st, stem, collect_partial, &c, err);
    if (rc == PITR_OK && c.n > 0)
        rc = pitr_storage_remove_many(r->st, (const char *const *)c.keys, c.n, err);
    if (rc == PITR_OK && c.n > 0)
        pitr_log_info(
          "removed %zu partial object(s) of '%s': the full segment is stored", c.n, seg);
    for (i = 0; i < c.n; i++)
        pitr_free(c.keys[i]);
    pitr_free(stem);
    return rc;
}

static void forget_pieces(struct rx *r)
{
    size_t i;

    for (i = 0; i < r->nfrozen; i++)
        pitr_codec_piece_release(&r->frozen[i]);
    r->nfrozen = 0;
}

/* Compress seg[off, off + PACK_BLOCK) into p, with the 32 KiB before it as dictionary. */
static pitr_rc pack_block(struct rx *r,
                          size_t off,
                          struct pitr_codec_piece *p,
                          struct pitr_err *err)
{
    size_t dict = off < 32768 ? off : 32768;

    pitr_codec_piece_init(p, PACK_BLOCK + PACK_BLOCK / 8 + 4096);
    return pitr_codec_piece_compress(
      r->push.codec, r->push.level, r->seg + off - dict, dict, r->seg + off, PACK_BLOCK, p, err);
}

/* The segment in progress, zero-padded, compressed into out (see struct rx). */
static pitr_rc pack_partial(struct rx *r, struct pitr_buf *out, struct pitr_err *err)
{
    size_t nblocks = r->seg_size / PACK_BLOCK, cur = (size_t)(r->pos % r->seg_size) / PACK_BLOCK;
    struct pitr_codec_piece live;
    struct pitr_codec_join j;
    pitr_rc rc = PITR_OK;
    size_t i;

    pitr_codec_piece_init(&live, 0);
    if (r->frozen == NULL)
        r->frozen = pitr_calloc(nblocks, sizeof(*r->frozen));
    if (!r->have_zero) {
        /* No dictionary: zeros compress alone, and the piece fits anywhere. */
        uint8_t *z = pitr_calloc(1, PACK_BLOCK);

        pitr_codec_piece_init(&r->zero, PACK_BLOCK + PACK_BLOCK / 8 + 4096);
        rc = pitr_codec_piece_compress(
          r->push.codec, r->push.level, NULL, 0, z, PACK_BLOCK, &r->zero, err);
        pitr_free(z);
        if (rc != PITR_OK)
            goto out;
        r->have_zero = 1;
    }
    for (; r->nfrozen < cur && rc == PITR_OK; r->nfrozen++)
        rc = pack_block(r, r->nfrozen * PACK_BLOCK, &r->frozen[r->nfrozen], err);
    if (rc == PITR_OK && cur < nblocks)
        rc = pack_block(r, cur * PACK_BLOCK, &live, err);
    if (rc == PITR_OK)
        rc = pitr_codec_join_begin(&j, r->push.codec, r->push.level, out, err);
    for (i = 0; i < nblocks && rc == PITR_OK; i++)
        rc = pitr_codec_join_add(&j,
                                 i < cur    ? &r->frozen[i]
                                 : i == cur ? &live
                                            : &r->zero,
                                 out,
                                 err);
    if (rc == PITR_OK)
        rc = pitr_codec_join_end(&j, out, err);
out:
    pitr_codec_piece_release(&live);
    return rc;
}

/* Store the segment in progress as "<segment>.partial<suffix>" (zero-padded, compressed). */
static pitr_rc upload_partial(struct rx *r, struct pitr_err *err)
{
    struct pitr_buf packed;
    char *stem = NULL, *key = NULL;
    int64_t t0, t1;
    pitr_rc rc;

    if (r->fd < 0 || r->partial >= r->pos || r->pos % r->seg_size == 0)
        return PITR_OK;
    pitr_buf_init(&packed, (size_t)r->seg_size + r->seg_size / 8 + 65536);
    stem = partial_stem(r, r->seg_name, err);
    if (stem == NULL) {
        rc = err->code;
        goto out;
    }
    t0 = now_ms();
    rc = pack_partial(r, &packed, err);
    t1 = now_ms();
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "cannot compress the partial segment '%s'", r->seg_name);
        goto out;
    }
    key = pitr_asprintf("%s%s", stem, pitr_codec_suffix(r->push.codec));
    rc = pitr_storage_put(r->st, key, packed.data, packed.len, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "cannot store the partial segment '%s'", r->seg_name);
        goto out;
    }
    {
        char at[20];

        pitr_pg_format_lsn(r->pos, at);
        pitr_log_debug("stored '%s' up to %s (%zu bytes; packed in %lld ms, stored in %lld ms)",
                       key,
                       at,
                       packed.len,
                       (long long)(t1 - t0),
                       (long long)(now_ms() - t1));
    }
    r->partial = r->pos;
    if (r->stored < r->pos)
        r->stored = r->pos;
    r->last_partial_ms = now_ms();
out:
    pitr_free(stem);
    pitr_free(key);
    pitr_buf_release(&packed);
    return rc;
}

/* wal-push a finished file of the spool, then remove it (and the segment's .partial objects). */
static pitr_rc push_spooled(struct rx *r, const char *name, struct pitr_err *err)
{
    char *path = spool_path(r, name, "");
    enum pitr_push_outcome outcome;
    struct pitr_wal_name w;
    pitr_rc rc = pitr_wal_parse_name(name, &w, err);

    if (rc == PITR_OK)
        rc = pitr_wal_push(r->st, &r->push, path, &outcome, err);
    if (rc == PITR_OK && w.kind == PITR_WAL_SEGMENT)
        rc = remove_partials(r, name, err);
    if (rc == PITR_OK && unlink(path) != 0 && errno != ENOENT)
        rc = io_fail(err, "remove", path);
    if (rc != PITR_OK)
        pitr_err_prefix(err, "cannot archive '%s'", name);
    pitr_free(path);
    return rc;
}

/* Finished segments a crash left in the spool: store them first. */
static pitr_rc push_leftovers(struct rx *r, struct pitr_err *err)
{
    DIR *d = opendir(r->o->spool_dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i, seen = 0;
    pitr_rc rc = PITR_OK;

    if (d == NULL)
        return pitr_err_set(
          err, PITR_EIO, "cannot read spool '%s': %s", r->o->spool_dir, strerror(errno));
    while ((de = readdir(d)) != NULL && seen++ < SPOOL_LIST_LIMIT) {
        struct pitr_wal_name w;
        struct pitr_err perr = { 0 };

        if (pitr_wal_parse_name(de->d_name, &w, &perr) != PITR_OK ||
            (w.kind != PITR_WAL_SEGMENT && w.kind != PITR_WAL_HISTORY))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = pitr_realloc(names, cap * sizeof(*names));
        }
        names[n++] = pitr_strdup(de->d_name);
    }
    closedir(d);
    for (i = 0; i < n; i++) {
        if (rc == PITR_OK) {
            pitr_log_info("archiving '%s' left in the spool", names[i]);
            rc = push_spooled(r, names[i], err);
        }
        pitr_free(names[i]);
    }
    pitr_free(names);
    return rc;
}

/* ---- the spool --------------------------------------------------------- */

static pitr_rc sync_segment(struct rx *r, struct pitr_err *err)
{
    if (r->fd < 0 || r->synced >= r->pos) {
        if (r->synced < r->pos)
            r->synced = r->pos;
        return PITR_OK;
    }
    if (fdatasync(r->fd) != 0) {
        char *path = spool_path(r, r->seg_name, ".partial");
        pitr_rc rc = io_fail(err, "fsync", path);

        pitr_free(path);
        return rc;
    }
    r->synced = r->pos;
    return PITR_OK;
}

/* Open (create, zero-padded) the spool file for the segment holding r->pos. */
static pitr_rc open_segment(struct rx *r, int existing, struct pitr_err *err)
{
    char *path;
    pitr_rc rc = PITR_OK;
    size_t have = 0;

    seg_name_of(r->tli, r->pos, r->seg_size, r->seg_name);
    path = spool_path(r, r->seg_name, ".partial");
    memset(r->seg, 0, r->seg_size);
    forget_pieces(r);
    r->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (existing ? 0 : O_TRUNC), 0600);
    if (r->fd < 0) {
        rc = io_fail(err, "create", path);
        goto out;
    }
    if (existing) {
        uint64_t want = r->pos % r->seg_size;

        while (have < want) {
            ssize_t n = pread(r->fd, r->seg + have, want - have, (off_t)have);

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = pitr_err_set(err, PITR_EIO, "spool file '%s' is shorter than expected", path);
                goto out;
            }
            have += (size_t)n;
        }
    } else if (r->pos % r->seg_size != 0) {
        rc = pitr_err_set(err,
                          PITR_EINTERNAL,
                          "segment '%s' would start in its middle without a spool file",
                          r->seg_name);
        goto out;
    }
    if (ftruncate(r->fd, (off_t)r->seg_size) != 0 || fsync(r->fd) != 0) {
        rc = io_fail(err, "size", path);
        goto out;
    }
    rc = fsync_spool_dir(r, err);
    r->synced = r->pos;
    r->partial = existing ? 0 : r->pos;
out:
    if (rc != PITR_OK && r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    pitr_free(path);
    return rc;
}

/* The segment is whole: fsync, rename, store through wal-push, forget. */
static pitr_rc finish_segment(struct rx *r, struct pitr_err *err)
{
    char *from = spool_path(r, r->seg_name, ".partial");
    char *to = spool_path(r, r->seg_name, "");
    pitr_rc rc = sync_segment(r, err);

    if (rc != PITR_OK)
        goto out;
    close(r->fd);
    r->fd = -1;
    if (rename(from, to) != 0) {
        rc = io_fail(err, "rename", from);
        goto out;
    }
    rc = fsync_spool_dir(r, err);
    if (rc == PITR_OK)
        rc = push_spooled(r, r->seg_name, err);
    if (rc == PITR_OK) {
        r->stored = r->pos;
        r->partial = r->pos;
    }
out:
    pitr_free(from);
    pitr_free(to);
    return rc;
}

/* Close the segment at a timeline switch or shutdown: store its partial, drop the spool file. */
static pitr_rc close_segment(struct rx *r, int drop, struct pitr_err *err)
{
    pitr_rc rc;
    char *path;

    if (r->fd < 0)
        return PITR_OK;
    rc = sync_segment(r, err);
    if (rc == PITR_OK)
        rc = upload_partial(r, err);
    if (rc != PITR_OK || !drop)
        return rc;
    close(r->fd);
    r->fd = -1;
    path = spool_path(r, r->seg_name, ".partial");
    if (unlink(path) != 0)
        rc = io_fail(err, "remove", path);
    pitr_free(path);
    return rc;
}

static pitr_rc write_wal(struct rx *r, const uint8_t *p, size_t n, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    while (n > 0 && rc == PITR_OK) {
        uint64_t off;
        size_t chunk, done = 0;

        if (r->fd < 0) {
            rc = open_segment(r, 0, err);
            if (rc != PITR_OK)
                break;
        }
        off = r->pos % r->seg_size;
        chunk = n < r->seg_size - off ? n : (size_t)(r->seg_size - off);
        while (done < chunk) {
            ssize_t w = pwrite(r->fd, p + done, chunk - done, (off_t)(off + done));

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                char *path = spool_path(r, r->seg_name, ".partial");

                rc = io_fail(err, "write", path);
                pitr_free(path);
                return rc;
            }
            done += (size_t)w;
        }
        memcpy(r->seg + off, p, chunk);
        if (r->pending_since_ms == 0)
            r->pending_since_ms = now_ms();
        r->pos += chunk;
        p += chunk;
        n -= chunk;
        if (r->pos % r->seg_size == 0)
            rc = finish_segment(r, err);
    }
    return rc;
}

/* ---- the session ------------------------------------------------------- */

static pitr_rc send_status(struct rx *r, struct pitr_pg *pg, int force, struct pitr_err *err)
{
    uint8_t m[PITR_REPL_STATUS_LEN];
    uint64_t flush = durable(r);
    int64_t t = now_ms();

    if (!force && flush == r->reported &&
        t - r->last_status_ms < (int64_t)PITR_WALRECV_STATUS_INTERVAL * 1000)
        return PITR_OK;
    pitr_repl_encode_status(r->pos, flush, flush, pitr_repl_now(), 0, m);
    r->reported = flush;
    r->last_status_ms = t;
    return pitr_repl_put(pg, m, sizeof(m), err);
}

/* The durable work: fsync (and upload when synchronous), then report. */
static pitr_rc make_durable(struct rx *r, struct pitr_pg *pg, struct pitr_err *err)
{
    pitr_rc rc = sync_segment(r, err);

    if (rc == PITR_OK && r->o->synchronous)
        rc = upload_partial(r, err);
    if (rc != PITR_OK)
        return rc;
    if (durable(r) >= r->pos)
        r->pending_since_ms = 0;
    return send_status(r, pg, 0, err);
}

static int durable_due(const struct rx *r)
{
    if (r->pending_since_ms == 0)
        return 0;
    return now_ms() - r->pending_since_ms >= r->o->sync_interval_ms ||
           r->pos - durable(r) >= r->o->sync_bytes;
}

static pitr_rc archive_histories(struct rx *r,
                                 struct pitr_pg *pg,
                                 uint32_t upto,
                                 struct pitr_err *err)
{
    struct pitr_buf content;
    pitr_rc rc = PITR_OK;
    uint32_t t;

    pitr_buf_init(&content, PITR_WAL_AUX_MAX);
    for (t = r->history_done + 1 > 2 ? r->history_done + 1 : 2; t <= upto && rc == PITR_OK; t++) {
        char name[32], *path;

        rc = pitr_repl_timeline_history(pg, t, name, &content, err);
        if (rc != PITR_OK)
            break;
        path = spool_path(r, name, "");
        rc = pitr_fs_write_atomic(path, content.data, content.len, 0600, err);
        if (rc == PITR_OK)
            rc = push_spooled(r, name, err);
        pitr_free(path);
        if (rc == PITR_OK)
            r->history_done = t;
    }
    pitr_buf_release(&content);
    return rc;
}

/* Remember the cluster a spool belongs to; another cluster's WAL must never mix in. */
static pitr_rc check_systemid(struct rx *r, const char *systemid, struct pitr_err *err)
{
    char *path = spool_path(r, "systemid", "");
    struct pitr_buf old;
    pitr_rc rc;

    pitr_buf_init(&old, 64);
    rc = pitr_fs_read_file(path, &old, err);
    if (rc == PITR_ENOTFOUND) {
        rc = pitr_fs_write_atomic(path, systemid, strlen(systemid), 0600, err);
    } else if (rc == PITR_OK) {
        if (old.len != strlen(systemid) || memcmp(old.data, systemid, old.len) != 0)
            rc = pitr_err_set(err,
                              PITR_ECONFLICT,
                              "the server's system identifier %s differs from the spool's "
                              "('%s'); refusing to mix two clusters' WAL. HINT: use another "
                              "--spool-dir and server name",
                              systemid,
                              path);
    }
    pitr_buf_release(&old);
    pitr_free(path);
    return rc;
}

/* Take up the spool's newest .partial (repaired) as the segment in progress, if any. */
static pitr_rc resume_from_spool(struct rx *r,
                                 struct pitr_walrecv_resume *res,
                                 struct pitr_err *err)
{
    pitr_rc rc = pitr_walrecv_spool_recover(r->o->spool_dir, r->seg_size, res, err);

    if (rc != PITR_OK || !res->found)
        return rc;
    if (res->others > 0)
        pitr_log_warn("spool '%s' holds %zu older .partial file(s); resuming from the newest",
                      r->o->spool_dir,
                      res->others);
    r->tli = res->tli;
    r->pos = res->lsn;
    rc = open_segment(r, 1, err);
    /* Every earlier segment is stored (finished ones are pushed before streaming). */
    r->stored = seg_start(r, r->pos);
    return rc;
}

/*
 * Before any connection: a spool .partial whose first page names its
 * segment size is repaired and stored at once, so what a crashed receiver
 * kept reaches the object store even while the server is down.
 */
static void resume_early(struct rx *r)
{
    struct pitr_walrecv_resume res;
    struct pitr_err err = { 0 };
    uint32_t seg_size = 0;

    if (pitr_walrecv_spool_seg_size(r->o->spool_dir, &seg_size, &err) != PITR_OK || seg_size == 0)
        return;
    r->seg_size = seg_size;
    r->seg = pitr_calloc(1, seg_size);
    if (resume_from_spool(r, &res, &err) != PITR_OK) {
        pitr_log_warn("wal-receive: %s; the spool is taken up after connecting", err.msg);
        if (r->fd >= 0)
            close(r->fd);
        r->fd = -1;
        r->pos = 0;
        return;
    }
    if (res.found && upload_partial(r, &err) != PITR_OK)
        pitr_log_warn("wal-receive: %s; stored later", err.msg);
}

/* Where to start: the open segment, the spool, the slot, or the server's position. */
static pitr_rc choose_start(struct rx *r,
                            struct pitr_pg *pg,
                            const struct pitr_repl_ident *id,
                            struct pitr_err *err)
{
    struct pitr_walrecv_resume res;
    uint64_t restart = 0;
    uint32_t slot_tli = 0;
    int exists = 0;
    pitr_rc rc;

    rc = pitr_repl_read_slot(pg, r->o->slot, &exists, &restart, &slot_tli, err);
    if (rc != PITR_OK)
        return rc;
    if (!exists) {
        if (!r->o->create_slot)
            return pitr_err_set(err,
                                PITR_EPG,
                                "replication slot '%s' does not exist on the server. HINT: "
                                "create it, or pass --create-slot",
                                r->o->slot);
        rc = pitr_repl_create_slot(pg, r->o->slot, err);
        if (rc != PITR_OK)
            return rc;
        pitr_log_warn("created physical replication slot '%s'", r->o->slot);
        rc = pitr_repl_read_slot(pg, r->o->slot, &exists, &restart, &slot_tli, err);
        if (rc != PITR_OK)
            return rc;
    }
    if (r->pos != 0)
        return PITR_OK; /* this process already knows where it is */
    rc = resume_from_spool(r, &res, err);
    if (rc != PITR_OK || res.found)
        return rc;
    if (restart != 0) {
        r->tli = slot_tli != 0 ? slot_tli : id->tli;
        r->pos = seg_start(r, restart);
    } else {
        r->tli = id->tli;
        r->pos = seg_start(r, id->xlogpos);
    }
    r->synced = r->stored = r->partial = r->pos;
    return PITR_OK;
}

static pitr_rc handle_message(struct rx *r, struct pitr_pg *pg, struct pitr_err *err)
{
    struct pitr_repl_msg m;
    pitr_rc rc = pitr_repl_decode(r->msg.data, r->msg.len, &m, err);

    if (rc != PITR_OK)
        return rc;
    if (m.kind == PITR_REPL_KEEPALIVE)
        return m.reply_requested ? send_status(r, pg, 1, err) : PITR_OK;
    rc = pitr_repl_check_continuity(r->pos, m.start, err);
    if (rc != PITR_OK)
        return rc;
    return write_wal(r, m.data, m.len, err);
}

/* The timeline ended: close its segment, continue on the next one from a segment start. */
static pitr_rc switch_timeline(struct rx *r, uint32_t tli, uint64_t lsn, struct pitr_err *err)
{
    char a[20], b[20];
    pitr_rc rc;

    pitr_pg_format_lsn(r->pos, a);
    pitr_pg_format_lsn(lsn, b);
    if (tli <= r->tli || lsn > r->pos)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "timeline %" PRIu32
                            " ended at %s, but the server says timeline %" PRIu32 " starts at %s",
                            r->tli,
                            a,
                            tli,
                            b);
    pitr_log_warn("timeline %" PRIu32 " ended at %s; following timeline %" PRIu32 " from %s",
                  r->tli,
                  a,
                  tli,
                  b);
    rc = close_segment(r, 1, err);
    if (rc != PITR_OK)
        return rc;
    r->tli = tli;
    r->pos = seg_start(r, lsn);
    r->synced = r->stored = r->partial = r->pos;
    r->pending_since_ms = 0;
    return PITR_OK;
}

/*
 * START_REPLICATION on our older timeline failed: when this server's
 * history ended that timeline before our position (we hold WAL of a branch
 * the new primary never had, e.g. after a failover), continue on the next
 * timeline from its start. PITR_OK with the switch in *next_tli and *next_lsn.
 */
static pitr_rc past_timeline_end(struct rx *r,
                                 struct pitr_pg *pg,
                                 uint32_t server_tli,
                                 uint32_t *next_tli,
                                 uint64_t *next_lsn)
{
    struct pitr_err herr = { 0 };
    struct pitr_buf content;
    char name[32];
    pitr_rc rc;

    pitr_buf_init(&content, PITR_WAL_AUX_MAX);
    rc = pitr_repl_timeline_history(pg, server_tli, name, &content, &herr);
    if (rc == PITR_OK)
        rc = pitr_repl_history_switch(
          content.data, content.len, r->tli, server_tli, next_lsn, next_tli, &herr);
    if (rc == PITR_OK && *next_lsn >= r->pos)
        rc = PITR_ENOTFOUND; /* not past it: the server's error stands */
    if (rc == PITR_OK) {
        char a[20], b[20];

        pitr_pg_format_lsn(*next_lsn, a);
        pitr_pg_format_lsn(r->pos, b);
        pitr_log_warn("the server's timeline %" PRIu32 " ended at %s, before the %s received: the "
                      "WAL after %s stays only in the timeline's .partial object",
                      r->tli,
                      a,
                      b,
                      a);
    }
    pitr_buf_release(&content);
    return rc;
}

static pitr_rc stream(struct rx *r, struct pitr_pg *pg, uint32_t server_tli, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    for (;;) {
        enum pitr_repl_got got = PITR_REPL_GOT_NONE;
        char at[20];
        int handled = 0;

        if (r->tli > server_tli)
            return pitr_err_set(err,
                                PITR_EPG,
                                "the spool is on timeline %" PRIu32 ", the server only on %" PRIu32,
                                r->tli,
                                server_tli);
        rc = archive_histories(r, pg, r->tli, err);
        if (rc != PITR_OK)
            return rc;
        {
            int switched = 0;
            uint32_t next_tli = 0;
            uint64_t next_lsn = 0;

            rc =
              pitr_repl_start(pg, r->o->slot, r->pos, r->tli, &switched, &next_tli, &next_lsn, err);
            if (rc == PITR_EPG && r->tli < server_tli &&
                past_timeline_end(r, pg, server_tli, &next_tli, &next_lsn) == PITR_OK) {
                switched = 1;
                rc = PITR_OK;
            }
            if (rc != PITR_OK)
                return rc;
            if (switched) {
                rc = switch_timeline(r, next_tli, next_lsn, err);
                if (rc != PITR_OK)
                    return rc;
                continue;
            }
        }
        pitr_pg_format_lsn(r->pos, at);
        pitr_log_info(
          "streaming timeline %" PRIu32 " from %s into '%s'", r->tli, at, r->o->spool_dir);
        while (!*r->o->stop) {
            int64_t t = now_ms();
            /* With bytes pending only look: when nothing more is there, make them durable. */
            int wait = r->pending_since_ms != 0 ? 0 : MAX_WAIT_MS;

            rc = pitr_repl_get(pg, wait, &r->msg, &got, err);
            if (rc != PITR_OK)
                return rc;
            if (got == PITR_REPL_GOT_ENDED)
                break;
            if (got == PITR_REPL_GOT_MSG) {
                rc = handle_message(r, pg, err);
                if (rc != PITR_OK)
                    return rc;
                if (++handled < DRAIN_MAX_MSGS && !durable_due(r))
                    continue;
            }
            handled = 0;
            rc = make_durable(r, pg, err);
            if (rc == PITR_OK && !r->o->synchronous && r->partial < r->pos &&
                t - r->last_partial_ms >= (int64_t)r->o->partial_interval * 1000)
                rc = upload_partial(r, err);
            if (rc != PITR_OK)
                return rc;
        }
        if (*r->o->stop)
            return PITR_OK;
        {
            int switched = 0;
            uint32_t next_tli;
            uint64_t next_lsn;

            rc = make_durable(r, pg, err);
            if (rc == PITR_OK)
                rc = pitr_repl_end(pg, &switched, &next_tli, &next_lsn, err);
            if (rc != PITR_OK)
                return rc;
            if (!switched)
                return pitr_err_set(err, PITR_ENETWORK, "the server ended the replication stream");
            rc = switch_timeline(r, next_tli, next_lsn, err);
            if (rc != PITR_OK)
                return rc;
            if (next_tli > server_tli)
                server_tli = next_tli;
        }
    }
}

static pitr_rc session(struct rx *r, struct pitr_err *err)
{
    struct pitr_pg *pg = NULL;
    struct pitr_repl_ident id;
    uint32_t seg_size = 0;
    pitr_rc rc;

    rc = pitr_repl_connect(r->o->conninfo, r->o->application_name, &pg, err);
    if (rc == PITR_OK)
        rc = pitr_repl_identify(pg, &id, err);
    if (rc == PITR_OK)
        rc = pitr_repl_seg_size(pg, &seg_size, err);
    if (rc != PITR_OK)
        goto out;
    if (r->seg_size == 0) {
        r->seg_size = seg_size;
        r->seg = pitr_calloc(1, seg_size);
    } else if (seg_size != r->seg_size) {
        rc = pitr_err_set(err,
                          PITR_ECONFLICT,
                          "the server's WAL segment size changed from %" PRIu32 " to %" PRIu32,
                          r->seg_size,
                          seg_size);
        goto out;
    }
    rc = check_systemid(r, id.systemid, err);
    if (rc == PITR_OK)
        rc = choose_start(r, pg, &id, err);
    if (rc == PITR_OK)
        rc = upload_partial(r, err); /* what a crash left unstored */
    if (rc == PITR_OK)
        rc = stream(r, pg, id.tli, err);
    if (rc == PITR_OK && *r->o->stop) {
        /* Shutting down: everything received becomes durable and is reported. */
        rc = sync_segment(r, err);
        if (rc == PITR_OK)
            rc = upload_partial(r, err);
        if (rc == PITR_OK)
            rc = send_status(r, pg, 1, err);
    }
out:
    pitr_pg_free(pg);
    return rc;
}

static int fatal(pitr_rc rc)
{
    return rc == PITR_EFORMAT || rc == PITR_ECONFLICT || rc == PITR_EIO || rc == PITR_EUSAGE ||
           rc == PITR_EINTERNAL || rc == PITR_ELIMIT;
}

/* Sleep ms, waking early when asked to stop. */
static void nap(const struct rx *r, int64_t ms)
{
    while (ms > 0 && !*r->o->stop) {
        int64_t step = ms < 200 ? ms : 200;
        struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };

        nanosleep(&ts, NULL);
        ms -= step;
    }
}

pitr_rc pitr_walrecv_run(const struct pitr_config *cfg,
                         const struct pitr_walrecv_opts *o,
                         struct pitr_err *err)
{
    struct rx r;
    char *lock_path = NULL;
    int lock_fd = -1, attempt = 0;
    int64_t backoff = BACKOFF_MIN_MS;
    pitr_rc rc;

    memset(&r, 0, sizeof(r));
    r.o = o;
    r.fd = -1;
    r.push.server = o->server;
    r.push.codec = o->codec;
    r.push.level = o->level;
    r.push.threads = 1;
    pitr_buf_init(&r.msg, PITR_REPL_MAX_MSG);
    rc = pitr_repl_check_slot_name(o->slot, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_fs_mkdir_p(o->spool_dir, 0700, err);
    if (rc != PITR_OK)
        goto out;
    lock_path = pitr_asprintf("%s/lock", o->spool_dir);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
        rc = io_fail(err, "open", lock_path);
        goto out;
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "spool '%s' is in use by another wal-receive (lock '%s' is held)",
                          o->spool_dir,
                          lock_path);
        goto out;
    }
    rc = pitr_storage_open(cfg, &r.st, err);
    if (rc != PITR_OK)
        goto out;
    resume_early(&r);
    while (!*o->stop) {
        int64_t began = now_ms(), delay;

        rc = push_leftovers(&r, err);
        if (rc == PITR_OK && r.fd < 0 && r.pos != 0)
            r.synced = r.stored = r.partial = r.pos; /* between segments: all is stored */
        if (rc == PITR_OK)
            rc = session(&r, err);
        if (rc == PITR_OK || *o->stop)
            break;
        if (fatal(rc))
            goto out;
        attempt++;
        if (o->max_attempts > 0 && attempt >= o->max_attempts)
            goto out;
        if (now_ms() - began >= STABLE_MS)
            backoff = BACKOFF_MIN_MS;
        /* Jitter: 75 %..125 % of the back-off, so receivers do not retry in step. */
        delay = backoff * 3 / 4 + (int64_t)(random() % (backoff / 2 + 1));
        pitr_log_error("wal-receive: %s; retrying in %.1f s (attempt %d)",
                       err->msg,
                       (double)delay / 1000.0,
                       attempt);
        nap(&r, delay);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        rc = PITR_OK;
    }
    if (*o->stop && r.fd >= 0) {
        /* Stopped while disconnected: what the spool holds is still stored. */
        rc = sync_segment(&r, err);
        if (rc == PITR_OK)
            rc = upload_partial(&r, err);
    }
out:
    if (r.fd >= 0)
        close(r.fd);
    forget_pieces(&r);
    pitr_free(r.frozen);
    if (r.have_zero)
        pitr_codec_piece_release(&r.zero);
    pitr_free(r.seg);
    pitr_buf_release(&r.msg);
    pitr_storage_free(r.st);
    if (lock_fd >= 0)
        close(lock_fd);
    pitr_free(lock_path);
    return rc;
}
