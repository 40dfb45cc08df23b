/* variants.c - stored forms of one WAL file; see variants.h. */
#include "variants.h"

#include <string.h>

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

void wal_variants_release(struct wal_variants *vs)
{
    size_t i;

    for (i = 0; i < vs->n; i++)
        pitr_free(vs->v[i].key);
    vs->n = 0;
}
