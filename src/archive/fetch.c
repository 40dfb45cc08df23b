/*
 * fetch.c - restore one WAL file (restore_command).
 *
 * PostgreSQL asks for files that may not exist (the next timeline's
 * history, the segment after the last archived one); "not found" must be
 * told apart from every other failure, because PostgreSQL ends recovery or
 * switches to streaming on it. Anything we write to the destination is
 * complete and checked: a temporary file, renamed into place.
 */
#include <stdio.h>
#include <string.h>

#include "fetch_int.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/decode.h"
#include "pgpitr/wal/wal.h"
#include "variants.h"

/* Full segments first; then the cheapest format to decode. */
static int rank(const struct wal_variant *v)
{
    static const enum pitr_codec order[] = {
        PITR_CODEC_NONE,   PITR_CODEC_ZSTD,  PITR_CODEC_LZ4, PITR_CODEC_GZIP,
        PITR_CODEC_SNAPPY, PITR_CODEC_BZIP2, PITR_CODEC_XZ,
    };
    size_t j;

    for (j = 0; j < sizeof(order) / sizeof(order[0]); j++)
        if (v->codec == order[j])
            break;
    return v->partial * 100 + (int)j;
}

/* The variants in the order they are tried (insertion sort: at most 16). */
static void order_variants(const struct wal_variants *vs, const struct wal_variant **out)
{
    size_t i, j;

    for (i = 0; i < vs->n; i++) {
        const struct wal_variant *v = &vs->v[i];

        for (j = i; j > 0 && rank(out[j - 1]) > rank(v); j--)
            out[j] = out[j - 1];
        out[j] = v;
    }
}

/*
 * Get, decode and check one stored variant of w into plain. PITR_EFORMAT
 * and PITR_ELIMIT: this copy is not w (the caller tries the next one);
 * PITR_ENOTFOUND: it vanished since the listing; anything else is a
 * failure to reach the store.
 */
static pitr_rc load_variant(struct pitr_storage *st,
                            const struct wal_variant *v,
                            const struct pitr_wal_name *w,
                            struct pitr_buf *plain,
                            struct pitr_err *err)
{
    struct pitr_wal_name as = *w;
    struct pitr_buf raw;
    pitr_rc rc;

    /* The GET may bring what the listing announced, no more. */
    if (v->size > pitr_wal_stored_max(w->kind))
        return pitr_err_set(err,
                            PITR_ELIMIT,
                            "listed at %ju bytes, more than a WAL file of its kind may take",
                            (uintmax_t)v->size);
    pitr_buf_init(&raw, (size_t)v->size);
    rc = pitr_storage_get(st, v->key, &raw, err);
    if (rc == PITR_ELIMIT)
        pitr_err_prefix(err, "larger than the %ju bytes listed", (uintmax_t)v->size);
    if (rc == PITR_OK) {
        if (v->partial && as.kind == PITR_WAL_SEGMENT)
            as.kind = PITR_WAL_PARTIAL;
        rc = pitr_wal_decode(v->codec, raw.data, raw.len, &as, plain, err);
    }
    pitr_buf_release(&raw);
    return rc;
}

/* Add "'key': cause" to the list of refused copies (cut when full). */
static void note_refused(char *list, size_t size, const char *key, const char *cause)
{
    size_t used = strlen(list);

    if (used + 1 < size)
        snprintf(list + used, size - used, "%s'%.200s': %.300s", used ? "; " : "", key, cause);
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
    return pitr_archive_fetch_load_listed(
      st, server, name, full_only, NULL, plain, key, partial, err);
}

pitr_rc pitr_archive_fetch_load_listed(struct pitr_storage *st,
                                       const char *server,
                                       const char *name,
                                       int full_only,
                                       const struct wal_variants *listed,
                                       struct pitr_buf *plain,
                                       char **key,
                                       int *partial,
                                       struct pitr_err *err)
{
    struct wal_variants vs = { 0 };
    const struct wal_variant *order[PITR_MAX_VARIANTS];
    struct pitr_wal_name w;
    char refused[640] = "";
    size_t i, tried = 0, skipped = 0;
    char *stem = NULL;
    pitr_rc rc;

    *key = NULL;
    *partial = 0;
    rc = pitr_wal_parse_name(name, &w, err);
    if (rc != PITR_OK)
        goto out;
    stem = pitr_wal_key_stem(server, name, err);
    if (stem == NULL) {
        rc = err->code;
        goto out;
    }
    if (listed != NULL && listed->n > 0) {
        /* Copies of the batch listing's entries: released below like our own. */
        for (i = 0; i < listed->n; i++) {
            vs.v[i] = listed->v[i];
            vs.v[i].key = pitr_strdup(listed->v[i].key);
        }
        vs.n = listed->n;
        rc = PITR_OK;
    } else {
        rc = wal_variants_find(st, stem, &vs, err);
    }
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "cannot look up '%s'", name);
        goto out;
    }
    order_variants(&vs, order);
    for (i = 0; i < vs.n; i++) {
        const struct wal_variant *v = order[i];
        struct pitr_err verr = { 0 };

        if (full_only && v->partial) {
            skipped++;
            continue;
        }
        rc = load_variant(st, v, &w, plain, &verr);
        if (rc == PITR_OK) {
            *key = pitr_strdup(v->key);
            *partial = v->partial;
            goto out;
        }
        if (rc == PITR_ENOTFOUND) {
            /* Listed a moment ago: deleted by retention meanwhile. */
            pitr_log_info("archived '%s' vanished while fetching it", v->key);
            continue;
        }
        if (rc != PITR_EFORMAT && rc != PITR_ELIMIT) {
            *err = verr;
            pitr_err_prefix(err, "cannot fetch '%s'", v->key);
            goto out;
        }
        tried++;
        pitr_log_warn("archived '%s' is not a valid copy of '%s' (%s)%s",
                      v->key,
                      name,
                      verr.msg,
                      i + 1 < vs.n ? "; trying the next stored copy" : "");
        note_refused(refused, sizeof(refused), v->key, verr.msg);
    }
    pitr_buf_reset(plain);
    if (tried > 0) {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "no valid copy of WAL file '%s' in the archive '%s' (server '%s'): %s",
                          name,
                          st->url,
                          server,
                          refused);
        goto out;
    }
    *partial = skipped > 0;
    rc = pitr_err_set(err,
                      PITR_ENOTFOUND,
                      "WAL file '%s' is not in the archive '%s' (server '%s')%s",
                      name,
                      st->url,
                      server,
                      skipped ? " but as a partial segment" : "");
out:
    wal_variants_release(&vs);
    pitr_free(stem);
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
