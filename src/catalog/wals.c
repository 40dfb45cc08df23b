/* wals.c - a server's WAL archive as a sorted list; see catalog/wals.h. */
#include "pgpitr/catalog/wals.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"
#include "pgpitr/wal/wal.h"

pitr_rc pitr_cat_wal_check_seg_size(uint32_t seg_size, struct pitr_err *err)
{
    if (seg_size < (1u << 20) || seg_size > (1u << 30) || (seg_size & (seg_size - 1)) != 0)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid WAL segment size %u: expected a power of two from 1 MiB "
                            "to 1 GiB",
                            seg_size);
    return PITR_OK;
}

static uint64_t segs_per_log(uint32_t seg_size)
{
    return ((uint64_t)1 << 32) / seg_size;
}

int pitr_cat_wal_parse_key(const char *wals_prefix,
                           const char *key,
                           uint64_t size,
                           uint32_t seg_size,
                           struct pitr_cat_wal *out)
{
    size_t plen = strlen(wals_prefix), stem;
    const char *rest, *slash, *base;
    struct pitr_wal_name w;
    struct pitr_err err = { 0 };

    memset(out, 0, sizeof(*out));
    if (strncmp(key, wals_prefix, plen) != 0)
        return 0;
    rest = key + plen;
    slash = strchr(rest, '/');
    base = slash ? slash + 1 : rest;
    if (slash != NULL && strchr(base, '/') != NULL)
        return 0;
    out->codec = pitr_codec_from_suffix(base, &stem);
    if (stem == 0 || stem >= sizeof(out->name))
        return 0;
    memcpy(out->name, base, stem);
    out->name[stem] = '\0';
    if (pitr_wal_parse_name(out->name, &w, &err) != PITR_OK)
        return 0;
    if (w.kind == PITR_WAL_HISTORY) {
        if (slash != NULL)
            return 0; /* history files sit directly in wals/ */
    } else {
        /* segments sit in their hash folder; compare case-insensitively as barman does */
        if (slash == NULL || slash - rest != 16 || strncasecmp(rest, out->name, 16) != 0)
            return 0;
        if (w.seg >= segs_per_log(seg_size))
            return 0;
        out->segno = (uint64_t)w.log * segs_per_log(seg_size) + w.seg;
    }
    out->kind = w.kind;
    out->tli = w.tli;
    out->size = size;
    return 1;
}

pitr_rc pitr_cat_wal_segment_pos(const char *segment,
                                 uint32_t seg_size,
                                 uint32_t *tli,
                                 uint64_t *segno,
                                 struct pitr_err *err)
{
    struct pitr_wal_name w;

    if (segment == NULL || strlen(segment) != 24 ||
        pitr_wal_parse_name(segment, &w, err) != PITR_OK || w.kind != PITR_WAL_SEGMENT ||
        w.seg >= segs_per_log(seg_size)) {
        pitr_err_clear(err);
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "'%s' is not a WAL segment name for %u-byte segments",
                            segment ? segment : "None",
                            seg_size);
    }
    *tli = w.tli;
    *segno = (uint64_t)w.log * segs_per_log(seg_size) + w.seg;
    return PITR_OK;
}

void pitr_cat_wal_segment_name(uint32_t tli, uint64_t segno, uint32_t seg_size, char out[25])
{
    struct pitr_wal_name w = { .kind = PITR_WAL_SEGMENT, .tli = tli };

    w.log = (uint32_t)(segno / segs_per_log(seg_size));
    w.seg = (uint32_t)(segno % segs_per_log(seg_size));
    pitr_wal_format_segment(&w, out);
}

pitr_rc pitr_cat_wal_cmp_segment(const struct pitr_cat_wal *w,
                                 const char *segment,
                                 uint32_t seg_size,
                                 int *cmp,
                                 struct pitr_err *err)
{
    uint32_t tli;
    uint64_t segno;
    pitr_rc rc = pitr_cat_wal_segment_pos(segment, seg_size, &tli, &segno, err);

    if (rc != PITR_OK)
        return rc;
    if (w->tli != tli)
        *cmp = w->tli < tli ? -1 : 1;
    else if (w->segno != segno)
        *cmp = w->segno < segno ? -1 : 1;
    else
        *cmp = 0;
    return PITR_OK;
}

static int kind_rank(enum pitr_wal_kind k)
{
    switch (k) {
    case PITR_WAL_HISTORY:
        return 0;
    case PITR_WAL_SEGMENT:
        return 1;
    case PITR_WAL_BACKUP:
        return 2;
    case PITR_WAL_PARTIAL:
        return 3;
    }
    return 4;
}

int pitr_cat_wal_order(const void *pa, const void *pb)
{
    const struct pitr_cat_wal *a = pa, *b = pb;

    if (a->tli != b->tli)
        return a->tli < b->tli ? -1 : 1;
    if (a->segno != b->segno)
        return a->segno < b->segno ? -1 : 1;
    if (kind_rank(a->kind) != kind_rank(b->kind))
        return kind_rank(a->kind) - kind_rank(b->kind);
    return strcmp(a->key ? a->key : "", b->key ? b->key : "");
}

struct collect {
    const char *prefix;
    struct pitr_cat_wals *out;
    size_t cap;
};

static pitr_rc collect(const char *key,
                       const struct pitr_obj_info *info,
                       void *ud,
                       struct pitr_err *err)
{
    struct collect *c = ud;
    struct pitr_cat_wals *w = c->out;
    struct pitr_cat_wal e;

    (void)err;
    if (!pitr_cat_wal_parse_key(c->prefix, key, info ? info->size : 0, w->seg_size, &e)) {
        w->nother++;
        return PITR_OK;
    }
    if (w->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        w->v = pitr_realloc(w->v, c->cap * sizeof(*w->v));
    }
    e.key = pitr_strdup(key);
    w->v[w->n++] = e;
    return PITR_OK;
}

pitr_rc pitr_cat_wals_list(struct pitr_storage *st,
                           const char *server,
                           uint32_t seg_size,
                           struct pitr_cat_wals *out,
                           struct pitr_err *err)
{
    struct collect c = { 0 };
    char *prefix = NULL;
    pitr_rc rc;

    memset(out, 0, sizeof(*out));
    out->seg_size = seg_size;
    rc = pitr_cat_wal_check_seg_size(seg_size, err);
    if (rc != PITR_OK)
        goto out;
    prefix = pitr_asprintf("%s/wals/", server);
    c.prefix = prefix;
    c.out = out;
    rc = pitr_storage_list(st, prefix, collect, &c, err);
    if (rc != PITR_OK) {
        rc = pitr_err_prefix(err, "cannot list the WAL archive '%s'", prefix);
        goto out;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), pitr_cat_wal_order);
out:
    pitr_free(prefix);
    return rc;
}

size_t pitr_cat_wals_lower_bound(const struct pitr_cat_wals *w, uint32_t tli, uint64_t segno)
{
    size_t lo = 0, hi = w->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct pitr_cat_wal *e = &w->v[mid];

        if (e->tli < tli || (e->tli == tli && e->segno < segno))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void pitr_cat_wals_release(struct pitr_cat_wals *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++)
        pitr_free(w->v[i].key);
    pitr_free(w->v);
    memset(w, 0, sizeof(*w));
}
