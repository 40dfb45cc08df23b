/*
 * push.c - archive one WAL file (archive_command).
 *
 * The rule this file exists to keep: exit 0 only when the WAL is durably
 * stored, and never replace an archived WAL with different bytes. So
 * before writing we look for every stored variant of the name (any
 * compression suffix); if one exists we decompress and compare it, and
 * either report success (same bytes: PostgreSQL is retrying after a crash)
 * or refuse (different bytes: two clusters share a repository, or the
 * archive holds a foreign timeline).
 */
#include <pthread.h>
#include <string.h>

#include "pgpitr/archive/archive.h"
#include "pgpitr/core/clock.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/wal.h"
#include "push_int.h"
#include "variants.h"

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* Check that a segment's size agrees with its own page header. */
static pitr_rc check_segment(const char *path,
                             const struct pitr_wal_name *w,
                             const struct pitr_buf *data,
                             struct pitr_err *err)
{
    uint32_t seg_size;

    if (w->kind != PITR_WAL_SEGMENT && w->kind != PITR_WAL_PARTIAL)
        return PITR_OK;
    if (pitr_wal_segment_size(data->data, data->len, &seg_size, err) != PITR_OK)
        return pitr_err_prefix(err, "'%s' is not a valid WAL segment", path);
    if (w->kind == PITR_WAL_SEGMENT && data->len != seg_size)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "'%s' is not a complete WAL segment: %zu bytes, its header says %u",
                            path,
                            data->len,
                            seg_size);
    if (w->kind == PITR_WAL_PARTIAL && data->len > seg_size)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "'%s' is larger than its segment size (%zu > %u bytes)",
                            path,
                            data->len,
                            seg_size);
    return PITR_OK;
}

/*
 * Compare one stored variant with the local bytes. *same is set when the
 * decompressed object equals data.
 */
static pitr_rc compare_stored(struct pitr_storage *st,
                              const struct wal_variant *v,
                              const struct pitr_buf *data,
                              int *same,
                              struct pitr_err *err)
{
    struct pitr_buf raw, plain;
    pitr_rc rc;

    /* No more than listed; decoded, no more than the local file (more is different). */
    pitr_buf_init(&raw, v->size < PITR_WAL_MAX_FILE ? (size_t)v->size : PITR_WAL_MAX_FILE);
    pitr_buf_init(&plain, data->len);
    *same = 0;
    rc = pitr_storage_get(st, v->key, &raw, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_codec_decompress(v->codec, raw.data, raw.len, &plain, err);
    if (rc != PITR_OK) {
        /* A stored object we cannot read is not our content: do not overwrite it. */
        pitr_err_prefix(err, "cannot read archived '%s'", v->key);
        rc = PITR_ECONFLICT;
        err->code = rc;
        goto out;
    }
    *same = plain.len == data->len && memcmp(plain.data, data->data, data->len) == 0;
out:
    pitr_buf_release(&raw);
    pitr_buf_release(&plain);
    return rc;
}

struct compress_job {
    const struct pitr_push_opts *o;
    const struct pitr_buf *data;
    struct pitr_buf *out;
    pitr_rc rc;
    struct pitr_err err;
    double ms; /* how long the compression took */
};

static void *compress_job(void *arg)
{
    struct compress_job *j = arg;
    int64_t t0 = pitr_clock_ns();

    j->rc = pitr_codec_compress_mt(
      j->o->codec, j->o->level, j->o->threads, j->data->data, j->data->len, j->out, &j->err);
    j->ms = pitr_clock_ms_since(t0);
    return NULL;
}

pitr_rc pitr_archive_push_loaded(struct pitr_storage *st,
                                 const struct pitr_push_opts *o,
                                 const char *path,
                                 const struct pitr_buf *data,
                                 enum pitr_push_outcome *outcome,
                                 struct pitr_err *err)
{
    const char *name = base_name(path);
    struct pitr_wal_name w;
    struct pitr_buf packed;
    struct wal_variants vs = { 0 };
    struct compress_job zjob = { 0 };
    pthread_t ztid;
    int zstarted = 0;
    int64_t t0;
    double list_ms;
    char *stem = NULL, *key = NULL;
    pitr_rc rc;
    size_t i;

    pitr_buf_init(&packed, PITR_WAL_MAX_FILE + PITR_WAL_MAX_FILE / 8);
    rc = pitr_wal_parse_name(name, &w, err);
    if (rc != PITR_OK)
        goto out;
    rc = check_segment(path, &w, data, err);
    if (rc != PITR_OK)
        goto out;

    stem = pitr_wal_key_stem(o->server, name, err);
    if (stem == NULL) {
        rc = err->code;
        goto out;
    }
    /*
     * Compress on another thread while the listing is in flight: the round
     * trip to the object store then costs no extra time.
     */
    zjob.o = o;
    zjob.data = data;
    zjob.out = &packed;
    t0 = pitr_clock_ns();
    zstarted = pthread_create(&ztid, NULL, compress_job, &zjob) == 0;
    rc = wal_variants_find(st, stem, &vs, err);
    list_ms = pitr_clock_ms_since(t0);
    if (zstarted)
        pthread_join(ztid, NULL);
    else
        compress_job(&zjob);
    pitr_log_debug("timing: exists-check '%s' %.3f ms, compress %.3f ms (%s), both done %.3f ms",
                   name,
                   list_ms,
                   zjob.ms,
                   zstarted ? "in parallel" : "after",
                   pitr_clock_ms_since(t0));
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "cannot check whether '%s' is already archived", name);
        goto out;
    }
    for (i = 0; i < vs.n; i++) {
        int same;

        if (vs.v[i].partial)
            continue;
        rc = compare_stored(st, &vs.v[i], data, &same, err);
        if (rc != PITR_OK)
            goto out;
        if (!same) {
            rc = pitr_err_set(err,
                              PITR_ECONFLICT,
                              "'%s' is already archived as '%s' with different content; refusing "
                              "to overwrite it. HINT: is another cluster archiving into the same "
                              "repository and server name?",
                              name,
                              vs.v[i].key);
            goto out;
        }
        pitr_log_warn("'%s' is already archived as '%s' with identical content", name, vs.v[i].key);
        *outcome = PITR_PUSH_IDENTICAL;
        goto out;
    }

    rc = zjob.rc;
    if (rc != PITR_OK) {
        *err = zjob.err;
        pitr_err_prefix(err, "cannot compress '%s'", path);
        goto out;
    }
    key = pitr_asprintf("%s%s", stem, pitr_codec_suffix(o->codec));
    t0 = pitr_clock_ns();
    rc = pitr_storage_put(st, key, packed.data, packed.len, err);
    if (rc != PITR_OK)
        goto out;
    pitr_log_debug("timing: store '%s' %.3f ms", key, pitr_clock_ms_since(t0));
    pitr_log_info("archived '%s' as '%s' (%zu -> %zu bytes)", name, key, data->len, packed.len);
    *outcome = PITR_PUSH_STORED;
    /*
     * S3: the segment went up in one PutObject, as every earlier push of it
     * did, so no push of this name left anything; the cleanup would cost a
     * LIST and a LIST-UPLOADS per segment (issue 15: 40-120 ms).
     */
    if (pitr_storage_put_may_leave_temps(st)) {
        /* What an earlier, killed push of this name left (file:// temp files). */
        struct pitr_err cerr = { 0 };
        size_t removed = 0;

        t0 = pitr_clock_ns();
        if (pitr_storage_cleanup(st, stem, &removed, &cerr) != PITR_OK)
            pitr_log_debug("wal-push: cleanup of '%s': %s", stem, cerr.msg);
        else if (removed > 0)
            pitr_log_info("removed %zu abandoned temporary file(s) of '%s'", removed, stem);
        pitr_log_debug("timing: cleanup '%s' %.3f ms", stem, pitr_clock_ms_since(t0));
    }
out:
    wal_variants_release(&vs);
    pitr_free(stem);
    pitr_free(key);
    pitr_buf_release(&packed);
    return rc;
}

pitr_rc pitr_wal_push(struct pitr_storage *st,
                      const struct pitr_push_opts *o,
                      const char *path,
                      enum pitr_push_outcome *outcome,
                      struct pitr_err *err)
{
    struct pitr_wal_name w;
    struct pitr_buf data;
    pitr_rc rc;

    pitr_buf_init(&data, PITR_WAL_MAX_FILE);
    /* Check the name before touching the file: a bad name is a usage error. */
    rc = pitr_wal_parse_name(base_name(path), &w, err);
    if (rc == PITR_OK)
        rc = pitr_fs_read_file(path, &data, err);
    if (rc == PITR_OK)
        rc = pitr_archive_push_loaded(st, o, path, &data, outcome, err);
    pitr_buf_release(&data);
    return rc;
}
