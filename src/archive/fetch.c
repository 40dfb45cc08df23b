/*
 * fetch.c - restore one WAL file (restore_command).
 *
 * PostgreSQL asks for files that may not exist (the next timeline's
 * history, the segment after the last archived one); "not found" must be
 * told apart from every other failure, because PostgreSQL ends recovery or
 * switches to streaming on it. Anything we write to the destination is
 * complete and checked: a temporary file, renamed into place.
 */
#include <string.h>

#include "fetch_int.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/wal.h"
#include "variants.h"

/* Full segments first; then the cheapest format to decode. */
static const struct wal_variant *choose(const struct wal_variants *vs)
{
    static const enum pitr_codec order[] = {
        PITR_CODEC_NONE,   PITR_CODEC_ZSTD,  PITR_CODEC_LZ4, PITR_CODEC_GZIP,
        PITR_CODEC_SNAPPY, PITR_CODEC_BZIP2, PITR_CODEC_XZ,
    };
    int partial;
    size_t i, j;

    for (partial = 0; partial <= 1; partial++)
        for (j = 0; j < sizeof(order) / sizeof(order[0]); j++)
            for (i = 0; i < vs->n; i++)
                if (vs->v[i].partial == partial && vs->v[i].codec == order[j])
                    return &vs->v[i];
    return NULL;
}

pitr_rc pitr_archive_fetch_load(struct pitr_storage *st,
                                const char *server,
                                const char *name,
                                int full_only,
                                struct pitr_buf *plain,
                                char **key,
                                int *partial,
                                struct pitr_err *err)
{
    struct wal_variants vs = { 0 };
    const struct wal_variant *v;
    struct pitr_wal_name w;
    struct pitr_buf raw;
    char *stem = NULL;
    pitr_rc rc;

    *key = NULL;
    *partial = 0;
    pitr_buf_init(&raw, PITR_WAL_MAX_FILE + PITR_WAL_MAX_FILE / 8);
    rc = pitr_wal_parse_name(name, &w, err);
    if (rc != PITR_OK)
        goto out;
    stem = pitr_wal_key_stem(server, name, err);
    if (stem == NULL) {
        rc = err->code;
        goto out;
    }
    rc = wal_variants_find(st, stem, &vs, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "cannot look up '%s'", name);
        goto out;
    }
    v = choose(&vs);
    if (v == NULL || (full_only && v->partial)) {
        *partial = v != NULL;
        rc = pitr_err_set(err,
                          PITR_ENOTFOUND,
                          "WAL file '%s' is not in the archive '%s' (server '%s')%s",
                          name,
                          st->url,
                          server,
                          v == NULL ? "" : " but as a partial segment");
        goto out;
    }
    rc = pitr_storage_get(st, v->key, &raw, err);
    if (rc == PITR_ENOTFOUND) {
        /* Listed a moment ago: deleted by retention meanwhile. Still "not found". */
        pitr_err_prefix(err, "WAL file '%s' vanished while fetching it", name);
        goto out;
    }
    if (rc != PITR_OK)
        goto out;
    rc = pitr_codec_decompress(v->codec, raw.data, raw.len, plain, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "archived '%s' is unreadable", v->key);
        goto out;
    }
    if (w.kind == PITR_WAL_SEGMENT) {
        uint32_t seg_size;

        rc = pitr_wal_segment_size(plain->data, plain->len, &seg_size, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "archived '%s' is not a valid WAL segment", v->key);
            goto out;
        }
        if (!v->partial && plain->len != seg_size) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "archived '%s' has %zu bytes, its header says %u",
                              v->key,
                              plain->len,
                              seg_size);
            goto out;
        }
    }
    *key = pitr_strdup(v->key);
    *partial = v->partial;
out:
    wal_variants_release(&vs);
    pitr_free(stem);
    pitr_buf_release(&raw);
    return rc;
}

pitr_rc pitr_wal_fetch(struct pitr_storage *st,
                       const char *server,
                       const char *name,
                       const char *dest,
                       struct pitr_err *err)
{
    struct pitr_buf plain;
    char *key = NULL;
    int partial = 0;
    pitr_rc rc;

    pitr_buf_init(&plain, PITR_WAL_MAX_FILE);
    rc = pitr_archive_fetch_load(st, server, name, 0, &plain, &key, &partial, err);
    if (rc != PITR_OK)
        goto out;
    if (partial)
        pitr_log_warn("'%s' is only archived as a partial segment: restoring '%s'", name, key);
    rc = pitr_fs_write_atomic(dest, plain.data, plain.len, 0600, err);
    if (rc != PITR_OK)
        goto out;
    pitr_log_info("restored '%s' from '%s' to '%s'", name, key, dest);
out:
    pitr_free(key);
    pitr_buf_release(&plain);
    return rc;
}
