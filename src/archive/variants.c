/* variants.c - stored forms of one WAL file; see variants.h. */
#include "variants.h"

#include <string.h>

#include "pgpitr/archive/archive.h"
#include "pgpitr/core/mem.h"

struct find_ctx {
    const char *stem;
    size_t stem_len;
    struct wal_variants *out;
};

static pitr_rc on_key(const char *key,
                      const struct pitr_obj_info *info,
                      void *ud,
                      struct pitr_err *err)
{
    struct find_ctx *c = ud;
    size_t base_len;
    enum pitr_codec codec = pitr_codec_from_suffix(key, &base_len);
    int partial;

    (void)err;
    /* What is left after the stem must be "" or ".partial", nothing else. */
    if (base_len == c->stem_len)
        partial = 0;
    else if (base_len == c->stem_len + 8 && strncmp(key + c->stem_len, ".partial", 8) == 0)
        partial = 1;
    else
        return PITR_OK;
    if (c->out->n == PITR_MAX_VARIANTS)
        return PITR_OK;
    c->out->v[c->out->n].key = pitr_strdup(key);
    c->out->v[c->out->n].codec = codec;
    c->out->v[c->out->n].partial = partial;
    c->out->v[c->out->n].size = info != NULL ? (uint64_t)info->size : 0;
    c->out->n++;
    return PITR_OK;
}

pitr_rc wal_variants_find(struct pitr_storage *st,
                          const char *stem,
                          struct wal_variants *out,
                          struct pitr_err *err)
{
    struct find_ctx c = { stem, strlen(stem), out };

    memset(out, 0, sizeof(*out));
    return pitr_storage_list(st, stem, on_key, &c, err);
}

struct many_ctx {
    char **stems;
    size_t *lens;
    size_t n;
    struct wal_variants *out;
    size_t seen;
};

static pitr_rc on_many(const char *key,
                       const struct pitr_obj_info *info,
                       void *ud,
                       struct pitr_err *err)
{
    struct many_ctx *c = ud;

    /* A folder stuffed with other keys: stop, the caller lists one by one. */
    if (++c->seen > WAL_VARIANTS_LIST_MAX)
        return pitr_err_set(
          err, PITR_ELIMIT, "more than %d keys under the listed prefix", WAL_VARIANTS_LIST_MAX);
    for (size_t i = 0; i < c->n; i++) {
        struct find_ctx f = { c->stems[i], c->lens[i], &c->out[i] };

        if (strncmp(key, c->stems[i], c->lens[i]) == 0)
            return on_key(key, info, &f, err);
    }
    return PITR_OK;
}

pitr_rc wal_variants_find_many(struct pitr_storage *st,
                               const char *server,
                               const char (*names)[25],
                               size_t n,
                               struct wal_variants *out,
                               struct pitr_err *err)
{
    struct many_ctx c = { NULL, NULL, n, out, 0 };
    size_t common = 0, hash_end;
    char *prefix = NULL;
    pitr_rc rc = PITR_OK;

    for (size_t i = 0; i < n; i++)
        memset(&out[i], 0, sizeof(out[i]));
    if (n == 0)
        return PITR_OK;
    c.stems = pitr_calloc(n, sizeof(*c.stems));
    c.lens = pitr_calloc(n, sizeof(*c.lens));
    for (size_t i = 0; i < n; i++) {
        c.stems[i] = pitr_wal_key_stem(server, names[i], err);
        if (c.stems[i] == NULL) {
            rc = err->code;
            goto out;
        }
        c.lens[i] = strlen(c.stems[i]);
    }
    /* The stems' common prefix; it must stay inside one "<server>/wals/<hash>/" folder. */
    common = c.lens[0];
    for (size_t i = 1; i < n; i++) {
        size_t j = 0;

        while (j < common && j < c.lens[i] && c.stems[i][j] == c.stems[0][j])
            j++;
        common = j;
    }
    hash_end = c.lens[0] - 24; /* the stem ends with the 24-character name */
    if (common < hash_end) {
        rc = pitr_err_set(err, PITR_EUSAGE, "the names are not in one archive folder");
        goto out;
    }
    prefix = pitr_strndup(c.stems[0], common);
    rc = pitr_storage_list(st, prefix, on_many, &c, err);
out:
    if (rc != PITR_OK)
        for (size_t i = 0; i < n; i++)
            wal_variants_release(&out[i]);
    for (size_t i = 0; c.stems != NULL && i < n; i++)
        pitr_free(c.stems[i]);
    pitr_free(c.stems);
    pitr_free(c.lens);
    pitr_free(prefix);
    return rc;
}

void wal_variants_release(struct wal_variants *vs)
{
    size_t i;

    for (i = 0; i < vs->n; i++)
        pitr_free(vs->v[i].key);
    vs->n = 0;
}
