/* verify.c - checks that a server's repository is whole; see catalog/verify.h. */
#include "pgpitr/catalog/verify.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/repo/manifest.h"
#include "pgpitr/repo/volume.h"
#include "pgpitr/storage/storage.h"
#include "pgpitr/wal/decode.h"

/* ---- report ---------------------------------------------------------------- */

void pitr_verify_report_init(struct pitr_verify_report *r)
{
    memset(r, 0, sizeof(*r));
}

void pitr_verify_report_release(struct pitr_verify_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        pitr_free(r->v[i].backup_id);
        pitr_free(r->v[i].object);
        pitr_free(r->v[i].what);
    }
    pitr_free(r->v);
    memset(r, 0, sizeof(*r));
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

void pitr_verify_report_add(struct pitr_verify_report *r,
                            const char *backup_id,
                            const char *object,
                            const char *fmt,
                            ...)
{
    char what[1024];
    va_list ap;

    for (size_t i = 0; i < r->n; i++)
        if (same(r->v[i].backup_id, backup_id) && same(r->v[i].object, object))
            return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r->v = pitr_realloc(r->v, (r->n + 1) * sizeof(*r->v));
    r->v[r->n].backup_id = backup_id ? pitr_strdup(backup_id) : NULL;
    r->v[r->n].object = object ? pitr_strdup(object) : NULL;
    r->v[r->n].what = pitr_strdup(what);
    r->n++;
}

/* ---- objects and volumes ----------------------------------------------------- */

static const struct pitr_verify_object *find_object(const struct pitr_verify_object *v,
                                                    size_t n,
                                                    const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

void pitr_verify_objects(struct pitr_verify_report *r,
                         const char *id,
                         const struct pitr_verify_object *recorded,
                         size_t nrecorded,
                         const struct pitr_verify_object *stored,
                         size_t nstored)
{
    char stream[PITR_VOLUME_STREAM_MAX];
    unsigned index;

    for (size_t i = 0; i < nrecorded; i++) {
        const struct pitr_verify_object *s = find_object(stored, nstored, recorded[i].name);

        r->objects_checked++;
        if (s == NULL)
            pitr_verify_report_add(
              r, id, recorded[i].name, "missing: the manifest records it but it is not stored");
        else if (s->size != recorded[i].size)
            pitr_verify_report_add(r,
                                   id,
                                   recorded[i].name,
                                   "size mismatch: %" PRIu64 " bytes stored, the manifest "
                                   "records %" PRIu64,
                                   s->size,
                                   recorded[i].size);
    }
    for (size_t i = 0; i < nstored; i++)
        if (pitr_volume_parse(stored[i].name, stream, &index) &&
            find_object(recorded, nrecorded, stored[i].name) == NULL)
            pitr_verify_report_add(
              r, id, stored[i].name, "stored volume that the manifest does not record");
}

struct stream_seen {
    char name[32];
    unsigned max_index;
    uint64_t seen[4]; /* bitmap of indexes 0..255; more are reported as holes beyond */
    unsigned count;
};

void pitr_verify_volumes(struct pitr_verify_report *r,
                         const char *id,
                         const struct pitr_verify_object *stored,
                         size_t nstored,
                         const uint32_t *oids,
                         size_t noids)
{
    struct stream_seen *ss = NULL;
    size_t nss = 0;
    int have_data = 0;

    for (size_t i = 0; i < nstored; i++) {
        char stream[PITR_VOLUME_STREAM_MAX];
        unsigned index;
        size_t k;

        if (!pitr_volume_parse(stored[i].name, stream, &index))
            continue;
        for (k = 0; k < nss && strcmp(ss[k].name, stream) != 0; k++)
            ;
        if (k == nss) {
            ss = pitr_realloc(ss, (nss + 1) * sizeof(*ss));
            memset(&ss[nss], 0, sizeof(ss[nss]));
            snprintf(ss[nss].name, sizeof(ss[nss].name), "%s", stream);
            nss++;
        }
        if (index < 256 && !(ss[k].seen[index / 64] >> (index % 64) & 1)) {
            ss[k].seen[index / 64] |= (uint64_t)1 << (index % 64);
            ss[k].count++;
        }
        if (index > ss[k].max_index)
            ss[k].max_index = index;
    }
    for (size_t k = 0; k < nss; k++) {
        int known = strcmp(ss[k].name, "data") == 0;

        have_data |= known;
        for (size_t t = 0; t < noids && !known; t++) {
            char o[16];

            snprintf(o, sizeof(o), "%" PRIu32, oids[t]);
            known = strcmp(o, ss[k].name) == 0;
        }
        if (!known)
            pitr_verify_report_add(r,
                                   id,
                                   ss[k].name,
                                   "volume of tablespace %s, which backup.info does not list",
                                   ss[k].name);
        for (unsigned x = 0; x <= ss[k].max_index && x < 256; x++) {
            if (ss[k].seen[x / 64] >> (x % 64) & 1)
                continue;
            char *want = pitr_volume_name(ss[k].name, x, "");

            pitr_verify_report_add(r,
                                   id,
                                   want ? want : ss[k].name,
                                   "missing volume: later volumes of '%s' are stored",
                                   ss[k].name);
            pitr_free(want);
        }
    }
    if (!have_data)
        pitr_verify_report_add(r, id, "data.tar", "missing: no PGDATA volume is stored");
    for (size_t t = 0; t < noids; t++) {
        char o[16];
        size_t k;

        snprintf(o, sizeof(o), "%" PRIu32, oids[t]);
        for (k = 0; k < nss && strcmp(ss[k].name, o) != 0; k++)
            ;
        if (k == nss) {
            char want[48];

            snprintf(want, sizeof(want), "%s.tar", o);
            pitr_verify_report_add(
              r, id, want, "missing: backup.info lists tablespace %s but no volume is stored", o);
        }
    }
    pitr_free(ss);
}

/* ---- timeline history -------------------------------------------------------- */

void pitr_verify_history_release(struct pitr_verify_history *h)
{
    if (h == NULL)
        return;
    pitr_free(h->v);
    memset(h, 0, sizeof(*h));
}

pitr_rc pitr_verify_parse_history(const char *text,
                                  size_t len,
                                  uint32_t tli,
                                  struct pitr_verify_history *h,
                                  struct pitr_err *err)
{
    const char *p = text, *end = text + len;
    size_t lineno = 0;

    memset(h, 0, sizeof(*h));
    h->tli = tli;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        char line[256], *q, *e;
        unsigned long parent;
        unsigned long long hi, lo;

        lineno++;
        snprintf(line, sizeof(line), "%.*s", (int)(le - p), p);
        p = nl ? nl + 1 : end;
        q = line;
        while (isspace((unsigned char)*q))
            q++;
        if (*q == '\0' || *q == '#')
            continue;
        errno = 0;
        parent = strtoul(q, &e, 10);
        if (e == q || errno != 0 || parent == 0 || parent >= tli || !isspace((unsigned char)*e))
            goto bad;
        q = e;
        while (isspace((unsigned char)*q))
            q++;
        hi = strtoull(q, &e, 16);
        if (e == q || *e != '/' || hi > 0xffffffffULL)
            goto bad;
        q = e + 1;
        lo = strtoull(q, &e, 16);
        if (e == q || errno != 0 || lo > 0xffffffffULL ||
            (*e != '\0' && !isspace((unsigned char)*e)))
            goto bad;
        if (h->n > 0 && parent <= h->v[h->n - 1].tli)
            goto bad;
        h->v = pitr_realloc(h->v, (h->n + 1) * sizeof(*h->v));
        h->v[h->n].tli = (uint32_t)parent;
        h->v[h->n].switch_lsn = (uint64_t)hi << 32 | lo;
        h->n++;
        continue;
    bad:
        pitr_verify_history_release(h);
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "history file of timeline %" PRIu32 ": malformed line %zu",
                            tli,
                            lineno);
    }
    return PITR_OK;
}

/* ---- WAL continuity ---------------------------------------------------------- */

/* Newest segment (full or .partial) archived on tli; 0 when there is none. */
static int newest_on(const struct pitr_cat_wals *w, uint32_t tli, uint64_t *segno)
{
    size_t i = tli == UINT32_MAX ? w->n : pitr_cat_wals_lower_bound(w, tli + 1, 0);

    while (i > 0) {
        const struct pitr_cat_wal *e = &w->v[--i];

        if (e->tli != tli)
            return 0;
        if (e->kind == PITR_WAL_SEGMENT || e->kind == PITR_WAL_PARTIAL) {
            *segno = e->segno;
            return 1;
        }
    }
    return 0;
}

static void gap(struct pitr_verify_report *r,
                const struct pitr_cat_wals *w,
                const char *id,
                uint32_t tli,
                uint64_t from,
                uint64_t to,
                uint32_t goal)
{
    char first[25], last[25];

    pitr_cat_wal_segment_name(tli, from, w->seg_size, first);
    pitr_cat_wal_segment_name(tli, to, w->seg_size, last);
    if (from == to)
        pitr_verify_report_add(
          r, id, first, "WAL gap: segment missing on the way to timeline %" PRIu32, goal);
    else
        pitr_verify_report_add(r,
                               id,
                               first,
                               "WAL gap: %" PRIu64 " segments missing, %s to %s, on the way to "
                               "timeline %" PRIu32,
                               to - from + 1,
                               first,
                               last,
                               goal);
}

/*
 * Every segment of tli in [from, to] must be archived; a .partial only
 * counts for segment partial_ok_at (the timeline's last one).
 */
static void check_range(struct pitr_verify_report *r,
                        const struct pitr_cat_wals *w,
                        const char *id,
                        uint32_t tli,
                        uint64_t from,
                        uint64_t to,
                        int partial_ok,
                        uint64_t partial_at,
                        uint32_t goal)
{
    uint64_t expect = from;

    for (size_t i = pitr_cat_wals_lower_bound(w, tli, from); i < w->n; i++) {
        const struct pitr_cat_wal *e = &w->v[i];

        if (e->tli != tli || e->segno > to)
            break;
        if (e->kind != PITR_WAL_SEGMENT &&
            !(e->kind == PITR_WAL_PARTIAL && partial_ok && e->segno == partial_at))
            continue;
        if (e->segno < expect)
            continue; /* the same segment in another compression */
        if (e->segno > expect)
            gap(r, w, id, tli, expect, e->segno - 1, goal);
        r->wal_segments_checked++;
        expect = e->segno + 1;
    }
    if (expect <= to)
        gap(r, w, id, tli, expect, to, goal);
}

static const struct pitr_verify_history *history_of(const struct pitr_verify_history *h,
                                                    size_t nh,
                                                    uint32_t tli)
{
    for (size_t i = 0; i < nh; i++)
        if (h[i].tli == tli)
            return &h[i];
    return NULL;
}

/* Check the way from (tli b, segment s0) to timeline goal along its history hist. */
static void check_path(struct pitr_verify_report *r,
                       const struct pitr_cat_wals *w,
                       const char *id,
                       const struct pitr_verify_history *hist,
                       size_t k, /* index of b among hist's ancestors */
                       uint64_t s0,
                       uint32_t goal)
{
    uint64_t from = s0, newest;

    for (size_t j = k; j < hist->n; j++) {
        uint64_t sw = hist->v[j].switch_lsn / w->seg_size;

        /* The segment holding the switch point is read from the next timeline. */
        if (sw > from)
            check_range(r, w, id, hist->v[j].tli, from, sw - 1, 0, 0, goal);
        if (sw > from)
            from = sw;
    }
    if (newest_on(w, goal, &newest) && newest >= from)
        check_range(r, w, id, goal, from, newest, 1, newest, goal);
}

void pitr_verify_wal(struct pitr_verify_report *r,
                     const struct pitr_cat_wals *w,
                     const struct pitr_verify_history *h,
                     size_t nh,
                     const struct pitr_verify_start *b,
                     size_t nb)
{
    uint32_t *tlis = NULL;
    size_t ntlis = 0;

    /* The timelines the archive has WAL or history of, ascending. */
    for (size_t i = 0; i < w->n; i++)
        if (ntlis == 0 || tlis[ntlis - 1] != w->v[i].tli) {
            tlis = pitr_realloc(tlis, (ntlis + 1) * sizeof(*tlis));
            tlis[ntlis++] = w->v[i].tli;
        }
    for (size_t t = 0; t < ntlis; t++) {
        uint64_t dummy;
        char name[32];

        if (tlis[t] > 1 && history_of(h, nh, tlis[t]) == NULL && newest_on(w, tlis[t], &dummy)) {
            snprintf(name, sizeof(name), "%08" PRIX32 ".history", tlis[t]);
            pitr_verify_report_add(r,
                                   NULL,
                                   name,
                                   "missing: timeline %" PRIu32 " has WAL but no history file, "
                                   "so recovery cannot follow it",
                                   tlis[t]);
        }
    }
    for (size_t i = 0; i < nb; i++) {
        uint32_t btli, etli;
        uint64_t s0, es, newest;
        struct pitr_err err = { 0 };
        int found_end = 0;

        if (pitr_cat_wal_segment_pos(b[i].begin_wal, w->seg_size, &btli, &s0, &err) != PITR_OK) {
            pitr_verify_report_add(r, b[i].id, "begin_wal", "malformed: %s", err.msg);
            continue;
        }
        if (!newest_on(w, btli, &newest) || newest < s0) {
            /* Nothing archived from begin_wal on: the backup cannot be restored at all. */
            int descendant = 0;

            for (size_t t = 0; t < ntlis; t++) {
                const struct pitr_verify_history *hist = history_of(h, nh, tlis[t]);

                for (size_t j = 0; hist != NULL && j < hist->n; j++)
                    descendant |=
                      hist->v[j].tli == btli && hist->v[j].switch_lsn / w->seg_size > s0;
            }
            if (!descendant) {
                pitr_verify_report_add(
                  r, b[i].id, b[i].begin_wal, "missing: the backup's begin_wal is not archived");
                continue;
            }
        } else {
            check_range(r, w, b[i].id, btli, s0, newest, 1, newest, btli);
        }
        for (size_t t = 0; t < ntlis; t++) {
            const struct pitr_verify_history *hist;

            if (tlis[t] <= btli || (hist = history_of(h, nh, tlis[t])) == NULL)
                continue;
            for (size_t j = 0; j < hist->n; j++)
                if (hist->v[j].tli == btli) {
                    /* tlis[t] branched from our timeline after the backup began */
                    if (hist->v[j].switch_lsn / w->seg_size >= s0)
                        check_path(r, w, b[i].id, hist, j, s0, tlis[t]);
                    break;
                }
        }
        if (b[i].end_wal == NULL ||
            pitr_cat_wal_segment_pos(b[i].end_wal, w->seg_size, &etli, &es, &err) != PITR_OK)
            continue;
        for (size_t k = pitr_cat_wals_lower_bound(w, etli, es);
             k < w->n && w->v[k].tli == etli && w->v[k].segno == es;
             k++)
            found_end |= w->v[k].kind == PITR_WAL_SEGMENT || w->v[k].kind == PITR_WAL_PARTIAL;
        if (!found_end)
            pitr_verify_report_add(
              r, b[i].id, b[i].end_wal, "missing: the backup's end_wal is not archived");
    }
    pitr_free(tlis);
}

/* ---- the run over a repository ------------------------------------------------ */

#define INFO_LIMIT     ((size_t)4 * 1024 * 1024)
#define MANIFEST_LIMIT ((size_t)512 * 1024 * 1024)

/* The keys a restore (ours, barman's, CloudNativePG's) reads from backup.info. */
static const char *const required_keys[] = {
    "begin_wal", "end_wal",  "begin_xlog", "end_xlog", "begin_time",
    "end_time",  "timeline", "systemid",   "version",
};

struct stored {
    char *name; /* owned; relative to the backup folder */
    uint64_t size;
};

struct backup_dir {
    char *id;         /* owned */
    struct stored *v; /* owned */
    size_t n;
};

struct listing {
    const char *prefix;   /* "<server>/base/" */
    struct backup_dir *d; /* owned */
    size_t n;
};

static pitr_rc list_cb(const char *key,
                       const struct pitr_obj_info *info,
                       void *ud,
                       struct pitr_err *err)
{
    struct listing *l = ud;
    const char *rest = key + strlen(l->prefix), *slash = strchr(rest, '/');
    struct backup_dir *d;

    (void)err;
    if (slash == NULL || slash == rest || slash[1] == '\0')
        return PITR_OK; /* not inside a backup folder */
    if (l->n == 0 || strncmp(l->d[l->n - 1].id, rest, (size_t)(slash - rest)) != 0 ||
        l->d[l->n - 1].id[slash - rest] != '\0') {
        l->d = pitr_realloc(l->d, (l->n + 1) * sizeof(*l->d));
        memset(&l->d[l->n], 0, sizeof(l->d[l->n]));
        l->d[l->n].id = pitr_strndup(rest, (size_t)(slash - rest));
        l->n++;
    }
    d = &l->d[l->n - 1];
    d->v = pitr_realloc(d->v, (d->n + 1) * sizeof(*d->v));
    d->v[d->n].name = pitr_strdup(slash + 1);
    d->v[d->n].size = info != NULL ? info->size : 0;
    d->n++;
    return PITR_OK;
}

static void listing_release(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        for (size_t j = 0; j < l->d[i].n; j++)
            pitr_free(l->d[i].v[j].name);
        pitr_free(l->d[i].v);
        pitr_free(l->d[i].id);
    }
    pitr_free(l->d);
}

/* One file the manifest lists: member path (without "./") in a volume. */
struct mfile {
    const char *volume; /* borrowed from the manifest */
    const char *path;   /* borrowed; "./" stripped */
    uint64_t size;
    const char *sha256;
    int seen;
};

static const char *strip_dot(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    return n;
}

static int mfile_cmp(const void *a, const void *b)
{
    const struct mfile *x = a, *y = b;
    int c = strcmp(x->volume, y->volume);

    return c != 0 ? c : strcmp(x->path, y->path);
}

#define READ_CHUNK ((size_t)1 << 20)

/* libarchive's source: the storage reader, with every stored byte hashed on the way. */
struct vol_reader {
    struct pitr_storage_reader *rd;
    struct pitr_sha256 h;
    char *buf; /* owned; READ_CHUNK bytes */
    uint64_t bytes;
    struct pitr_err err;
    int failed;
};

static pitr_rc vol_read(struct vol_reader *vr, size_t *got)
{
    pitr_rc rc = pitr_storage_reader_read(vr->rd, vr->buf, READ_CHUNK, got, &vr->err);

    if (rc == PITR_OK && *got > 0) {
        vr->bytes += *got;
        rc = pitr_sha256_update(&vr->h, vr->buf, *got, &vr->err);
    }
    vr->failed |= rc != PITR_OK;
    return rc;
}

static la_ssize_t vol_read_cb(struct archive *a, void *ud, const void **out)
{
    struct vol_reader *vr = ud;
    size_t got = 0;

    if (vol_read(vr, &got) != PITR_OK) {
        archive_set_error(a, EIO, "%s", vr->err.msg);
        return -1;
    }
    *out = vr->buf;
    return (la_ssize_t)got;
}

/* Hash one member's data into hex; its size into *size. */
static int hash_member(struct archive *a, uint64_t *size, char hex[PITR_SHA256_HEX_LEN + 1])
{
    struct pitr_sha256 h = { 0 };
    struct pitr_err e = { 0 };
    unsigned char md[PITR_SHA256_LEN];
    const void *blk;
    size_t sz;
    la_int64_t off;
    int r, ok = pitr_sha256_init(&h, &e) == PITR_OK;

    *size = 0;
    while (ok && (r = archive_read_data_block(a, &blk, &sz, &off)) == ARCHIVE_OK) {
        *size += sz;
        ok = pitr_sha256_update(&h, blk, sz, &e) == PITR_OK;
    }
    ok = ok && r == ARCHIVE_EOF && pitr_sha256_final(&h, md, &e) == PITR_OK;
    if (ok)
        pitr_hex_encode(md, sizeof(md), hex);
    pitr_sha256_release(&h);
    return ok;
}

/*
 * --full for one stored volume: read it once; its stored bytes' SHA-256
 * against want_sha (NULL: not recorded), and every regular member against
 * the manifest's files of this volume (files[0..nfiles), sorted).
 */
static pitr_rc full_volume(struct pitr_storage *st,
                           const char *key,
                           const char *id,
                           const char *volume,
                           const char *want_sha,
                           struct mfile *files,
                           size_t nfiles,
                           struct pitr_verify_report *r,
                           struct pitr_err *err)
{
    struct vol_reader vr = { 0 };
    struct archive *a = NULL;
    struct archive_entry *ae;
    unsigned char md[PITR_SHA256_LEN];
    char hex[PITR_SHA256_HEX_LEN + 1], corrupt[512] = "", obj[1024];
    size_t got;
    pitr_rc rc;
    int ar;

    rc = pitr_sha256_init(&vr.h, err);
    if (rc == PITR_OK)
        rc = pitr_storage_open_read(st, key, 0, PITR_STORAGE_TO_END, &vr.rd, err);
    if (rc != PITR_OK)
        goto out;
    vr.buf = pitr_malloc(READ_CHUNK);
    a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    ar = archive_read_open(a, &vr, NULL, vol_read_cb, NULL);
    while (ar == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        struct mfile key_f, *f;
        uint64_t size;

        ar = archive_read_next_header(a, &ae);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
            break;
        if (archive_entry_filetype(ae) != AE_IFREG)
            continue;
        key_f.volume = volume;
        key_f.path = strip_dot(archive_entry_pathname(ae));
        f = nfiles > 0 ? bsearch(&key_f, files, nfiles, sizeof(*files), mfile_cmp) : NULL;
        if (!hash_member(a, &size, hex)) {
            ar = ARCHIVE_FATAL;
            break;
        }
        if (f == NULL)
            continue; /* not in the manifest (a file of an older format); nothing to compare */
        f->seen = 1;
        snprintf(obj, sizeof(obj), "%s:%s", volume, f->path);
        if (size != f->size)
            pitr_verify_report_add(r,
                                   id,
                                   obj,
                                   "size mismatch: %" PRIu64 " bytes in the volume, the manifest "
                                   "records %" PRIu64,
                                   size,
                                   f->size);
        else if (f->sha256 != NULL && strcmp(hex, f->sha256) != 0)
            pitr_verify_report_add(
              r, id, obj, "checksum mismatch: SHA-256 %s, the manifest records %s", hex, f->sha256);
    }
    if (ar != ARCHIVE_EOF) {
        if (vr.failed) {
            *err = vr.err;
            rc = pitr_err_prefix(err, "verify: cannot read '%s'", key);
            goto out;
        }
        snprintf(corrupt,
                 sizeof(corrupt),
                 "corrupt: not a readable tar archive: %s",
                 archive_error_string(a) ? archive_error_string(a) : "unknown error");
    }
    /* The rest of the object, so its SHA-256 covers every stored byte. */
    do
        rc = vol_read(&vr, &got);
    while (rc == PITR_OK && got > 0);
    if (rc == PITR_OK)
        rc = pitr_sha256_final(&vr.h, md, &vr.err);
    if (rc != PITR_OK) {
        *err = vr.err;
        rc = pitr_err_prefix(err, "verify: cannot read '%s'", key);
        goto out;
    }
    r->bytes_hashed += vr.bytes;
    pitr_hex_encode(md, sizeof(md), hex);
    if (want_sha != NULL && strcmp(hex, want_sha) != 0)
        pitr_verify_report_add(r,
                               id,
                               volume,
                               "checksum mismatch: the stored bytes have SHA-256 %s, the "
                               "manifest records %s",
                               hex,
                               want_sha);
    if (corrupt[0] != '\0')
        pitr_verify_report_add(r, id, volume, "%s", corrupt);
    else
        for (size_t i = 0; i < nfiles; i++)
            if (strcmp(files[i].volume, volume) == 0 && !files[i].seen) {
                snprintf(obj, sizeof(obj), "%s:%s", volume, files[i].path);
                pitr_verify_report_add(
                  r, id, obj, "missing: the manifest lists it in this volume, which lacks it");
            }
out:
    archive_read_free(a);
    pitr_storage_reader_close(vr.rd);
    pitr_sha256_release(&vr.h);
    pitr_free(vr.buf);
    return rc;
}

/*
 * --full over every stored volume of backup folder d: rec[0..nrec) are the
 * recorded objects, mf[0..nmf) the manifest's files, sorted (both may be
 * empty: a barman-cloud backup's volumes are still read whole, so a
 * corrupt one is found).
 */
static pitr_rc full_volumes(struct pitr_storage *st,
                            const char *server,
                            const struct backup_dir *d,
                            const struct pitr_verify_object *stored,
                            const struct pitr_verify_object *rec,
                            size_t nrec,
                            struct mfile *mf,
                            size_t nmf,
                            struct pitr_verify_report *r,
                            struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    for (size_t i = 0; rc == PITR_OK && i < d->n; i++) {
        const struct pitr_verify_object *ro = find_object(rec, nrec, stored[i].name);
        char stream[PITR_VOLUME_STREAM_MAX], *okey;
        unsigned index;

        if (!pitr_volume_parse(stored[i].name, stream, &index))
            continue;
        if (ro != NULL && ro->size != stored[i].size)
            continue; /* already reported; reading it would only repeat that */
        okey = pitr_asprintf("%s/base/%s/%s", server, d->id, stored[i].name);
        rc = full_volume(
          st, okey, d->id, stored[i].name, ro != NULL ? ro->sha256 : NULL, mf, nmf, r, err);
        pitr_free(okey);
    }
    return rc;
}

/* The manifest's recorded objects, compared with the stored ones; --full hashes them. */
static pitr_rc check_manifest(struct pitr_storage *st,
                              const char *server,
                              const struct backup_dir *d,
                              const struct pitr_verify_object *stored,
                              const char *info_begin_wal,
                              const char *info_end_wal,
                              int full,
                              struct pitr_verify_report *r,
                              struct pitr_err *err)
{
    char *key = pitr_asprintf("%s/base/%s/pgpitr.manifest.json", server, d->id);
    struct pitr_verify_object *rec = NULL;
    struct mfile *mf = NULL;
    struct pitr_buf b;
    struct pitr_repo_manifest m = { 0 };
    size_t nrec = 0, nmf = 0, i;
    const char *v;
    pitr_rc rc;

    pitr_buf_init(&b, MANIFEST_LIMIT);
    rc = pitr_storage_get(st, key, &b, err);
    if (rc != PITR_OK)
        goto out;
    if (pitr_repo_manifest_parse(b.data, b.len, &m, err) != PITR_OK) {
        pitr_verify_report_add(r, d->id, PITR_REPO_MANIFEST_NAME, "malformed: %s", err->msg);
        pitr_err_clear(err);
        goto out;
    }
    for (i = 0; i < m.nproblems; i++)
        pitr_verify_report_add(r, d->id, PITR_REPO_MANIFEST_NAME, "malformed: %s", m.problems[i]);
    v = m.backup_id;
    if (v != NULL && strcmp(v, d->id) != 0)
        pitr_verify_report_add(
          r, d->id, "pgpitr.manifest.json", "belongs to backup '%s', not to this folder", v);
    v = m.begin_wal;
    if (v != NULL && info_begin_wal != NULL && strcmp(v, info_begin_wal) != 0)
        pitr_verify_report_add(r,
                               d->id,
                               "backup.info:begin_wal",
                               "'%s' differs from the manifest's '%s'",
                               info_begin_wal,
                               v);
    v = m.end_wal;
    if (v != NULL && info_end_wal != NULL && strcmp(v, info_end_wal) != 0)
        pitr_verify_report_add(r,
                               d->id,
                               "backup.info:end_wal",
                               "'%s' differs from the manifest's '%s'",
                               info_end_wal,
                               v);
    if (m.has_objects) {
        rec = pitr_calloc(m.nobjects + 1, sizeof(*rec));
        for (i = 0; i < m.nobjects; i++) {
            rec[nrec].name = m.objects[i].name;
            rec[nrec].sha256 = m.objects[i].sha256;
            rec[nrec].size = m.objects[i].size;
            nrec++;
        }
        pitr_verify_objects(r, d->id, rec, nrec, stored, d->n);
    } else {
        pitr_log_info("verify: backup %s: the manifest records no objects (made before pgpitr "
                      "recorded them): volume sizes are not checked",
                      d->id);
    }
    if (!full)
        goto out;
    mf = pitr_calloc(m.nfiles + 1, sizeof(*mf));
    for (i = 0; i < m.nfiles; i++) {
        mf[nmf].volume = m.files[i].volume;
        mf[nmf].path = m.files[i].path;
        mf[nmf].sha256 = m.files[i].sha256;
        mf[nmf].size = m.files[i].size;
        nmf++;
    }
    qsort(mf, nmf, sizeof(*mf), mfile_cmp);
    rc = full_volumes(st, server, d, stored, rec, nrec, mf, nmf, r, err);
out:
    pitr_repo_manifest_release(&m);
    pitr_free(mf);
    pitr_free(rec);
    pitr_buf_release(&b);
    pitr_free(key);
    return rc;
}

/* Everything about one backup folder but its WAL; *start is filled for the WAL check. */
static pitr_rc check_backup(struct pitr_storage *st,
                            const char *server,
                            const struct backup_dir *d,
                            int full,
                            struct pitr_verify_report *r,
                            char **begin_wal,
                            char **end_wal,
                            uint32_t *seg_size,
                            struct pitr_err *err)
{
    struct pitr_verify_object *stored = pitr_calloc(d->n + 1, sizeof(*stored));
    struct pitr_cat_backup info;
    uint32_t *oids = NULL, btli = 0, etli = 0;
    uint64_t bseg = 0, eseg = 0;
    int has_info = 0, has_manifest = 0;
    char *key = pitr_asprintf("%s/base/%s/backup.info", server, d->id);
    struct pitr_buf text;
    pitr_rc rc = PITR_OK;

    memset(&info, 0, sizeof(info));
    pitr_buf_init(&text, INFO_LIMIT);
    for (size_t i = 0; i < d->n; i++) {
        stored[i].name = d->v[i].name;
        stored[i].size = d->v[i].size;
        has_info |= strcmp(d->v[i].name, "backup.info") == 0;
        has_manifest |= strcmp(d->v[i].name, "pgpitr.manifest.json") == 0;
    }
    if (!has_info) {
        r->backups_checked++;
        pitr_verify_report_add(r,
                               d->id,
                               "backup.info",
                               "missing: the folder holds %zu object(s) but no backup.info (a "
                               "backup still running, or one that was interrupted or damaged)",
                               d->n);
        goto out;
    }
    rc = pitr_storage_get(st, key, &text, err);
    if (rc == PITR_ENOTFOUND) { /* deleted since the listing */
        pitr_err_clear(err);
        rc = PITR_OK;
        goto out;
    }
    if (rc == PITR_ELIMIT || rc == PITR_EFORMAT) {
        /* One bad backup.info is a problem of its backup, not of the run. */
        r->backups_checked++;
        pitr_verify_report_add(r, d->id, "backup.info", "unreadable: '%s': %s", key, err->msg);
        pitr_err_clear(err);
        rc = PITR_OK;
        goto out;
    }
    if (rc != PITR_OK)
        goto out;
    if (pitr_cat_parse_info(text.data, text.len, &info, err) != PITR_OK) {
        r->backups_checked++;
        pitr_verify_report_add(r, d->id, "backup.info", "unreadable: '%s': %s", key, err->msg);
        pitr_err_clear(err);
        goto out;
    }
    if (info.status == NULL) {
        /* barman writes status on every backup.info: this one is truncated or not one. */
        r->backups_checked++;
        pitr_verify_report_add(r,
                               d->id,
                               "backup.info",
                               "unreadable: '%s' has no status (truncated, or not a backup.info)",
                               key);
        goto out;
    }
    if (strcmp(info.status, "DONE") != 0) {
        r->backups_skipped++;
        pitr_log_info("verify: backup %s skipped: status %s", d->id, info.status);
        goto out;
    }
    r->backups_checked++;
    for (size_t k = 0; k < sizeof(required_keys) / sizeof(required_keys[0]); k++) {
        const char *v = pitr_cat_field(&info, required_keys[k]);
        char obj[64];

        if (v == NULL || v[0] == '\0' || strcmp(v, "None") == 0) {
            snprintf(obj, sizeof(obj), "backup.info:%s", required_keys[k]);
            pitr_verify_report_add(
              r, d->id, obj, "missing: backup.info has no value for '%s'", required_keys[k]);
        }
    }
    {
        /* The catalog keeps 16 MiB for a value it cannot use; say so. */
        const char *v = pitr_cat_field(&info, "xlog_segment_size");
        char want[16];

        snprintf(want, sizeof(want), "%" PRIu32, info.xlog_segment_size);
        if (v != NULL && strcmp(v, "None") != 0 && strcmp(v, want) != 0)
            pitr_verify_report_add(r, d->id, "backup.info:xlog_segment_size", "invalid: '%s'", v);
        else
            *seg_size = info.xlog_segment_size;
    }
    *end_wal = info.end_wal != NULL ? pitr_strdup(info.end_wal) : NULL;
    if (info.begin_wal != NULL) {
        struct pitr_err werr = { 0 };

        *begin_wal = pitr_strdup(info.begin_wal);
        if (pitr_cat_wal_segment_pos(info.begin_wal, *seg_size, &btli, &bseg, &werr) != PITR_OK)
            pitr_verify_report_add(r, d->id, "backup.info:begin_wal", "malformed: %s", werr.msg);
        else if (info.timeline > 0 && (int64_t)btli != info.timeline)
            pitr_verify_report_add(r,
                                   d->id,
                                   "backup.info:begin_wal",
                                   "'%s' is not on the backup's timeline %" PRId64,
                                   info.begin_wal,
                                   info.timeline);
        else if (*end_wal != NULL &&
                 pitr_cat_wal_segment_pos(*end_wal, *seg_size, &etli, &eseg, &werr) == PITR_OK &&
                 (etli < btli || (etli == btli && eseg < bseg)))
            pitr_verify_report_add(r,
                                   d->id,
                                   "backup.info:end_wal",
                                   "'%s' lies before begin_wal '%s'",
                                   *end_wal,
                                   info.begin_wal);
    }
    oids = pitr_calloc(info.ntablespaces + 1, sizeof(*oids));
    for (size_t t = 0; t < info.ntablespaces; t++)
        oids[t] = info.tablespaces[t].oid;
    pitr_verify_volumes(r, d->id, stored, d->n, oids, info.ntablespaces);
    if (has_manifest) {
        rc = check_manifest(st, server, d, stored, info.begin_wal, *end_wal, full, r, err);
    } else {
        pitr_log_info("verify: backup %s has no pgpitr.manifest.json (barman-cloud): existence "
                      "and backup.info checked%s",
                      d->id,
                      full ? ", volumes read whole" : "");
        if (full)
            rc = full_volumes(st, server, d, stored, NULL, 0, NULL, 0, r, err);
    }
out:
    pitr_cat_backup_release(&info);
    pitr_buf_release(&text);
    pitr_free(oids);
    pitr_free(stored);
    pitr_free(key);
    return rc;
}

/*
 * Get one WAL file of the archive, no larger than listed, and decode and
 * check it as wal-fetch would (pitr_wal_decode) into plain. A file that
 * fails is a problem of the report (*ok 0); the return code only says
 * whether the store answered.
 */
static pitr_rc read_wal(struct pitr_storage *st,
                        const struct pitr_cat_wal *e,
                        struct pitr_buf *plain,
                        struct pitr_verify_report *r,
                        int *ok,
                        struct pitr_err *err)
{
    struct pitr_wal_name w;
    struct pitr_buf raw;
    struct pitr_err perr = { 0 };
    pitr_rc rc = PITR_OK, crc;

    *ok = 0;
    if (e->size > pitr_wal_stored_max(e->kind)) {
        pitr_verify_report_add(
          r, NULL, e->name, "invalid: '%s' is %" PRIu64 " bytes, too large", e->key, e->size);
        return PITR_OK;
    }
    pitr_buf_init(&raw, (size_t)e->size);
    crc = pitr_storage_get(st, e->key, &raw, &perr);
    if (crc == PITR_ENOTFOUND)
        goto out; /* deleted since the listing */
    if (crc == PITR_OK && pitr_wal_parse_name(e->name, &w, &perr) == PITR_OK)
        crc = pitr_wal_decode(e->codec, raw.data, raw.len, &w, plain, &perr);
    else if (crc == PITR_OK)
        crc = perr.code;
    if (crc == PITR_OK) {
        *ok = 1;
    } else if (crc == PITR_EFORMAT || crc == PITR_ELIMIT || crc == PITR_EUSAGE) {
        pitr_verify_report_add(r, NULL, e->name, "invalid: '%s': %s", e->key, perr.msg);
    } else {
        *err = perr;
        rc = pitr_err_prefix(err, "verify: cannot read '%s'", e->key);
    }
out:
    pitr_buf_release(&raw);
    return rc;
}

/* --full: every segment of the archive is the segment its name says. */
static pitr_rc check_wal_files(struct pitr_storage *st,
                               const struct pitr_cat_wals *w,
                               struct pitr_verify_report *r,
                               struct pitr_err *err)
{
    struct pitr_buf plain;
    pitr_rc rc = PITR_OK;
    size_t n = 0;
    int ok;

    pitr_buf_init(&plain, PITR_WAL_SEG_MAX);
    for (size_t i = 0; i < w->n && rc == PITR_OK; i++) {
        if (w->v[i].kind != PITR_WAL_SEGMENT && w->v[i].kind != PITR_WAL_PARTIAL)
            continue;
        rc = read_wal(st, &w->v[i], &plain, r, &ok, err);
        n++;
        pitr_buf_reset(&plain);
    }
    pitr_buf_release(&plain);
    pitr_log_info("verify: %zu WAL segment object(s) read and checked", n);
    return rc;
}

/* Read and parse every history file of the archive. */
static pitr_rc load_histories(struct pitr_storage *st,
                              const struct pitr_cat_wals *w,
                              struct pitr_verify_history **out,
                              size_t *nout,
                              struct pitr_verify_report *r,
                              struct pitr_err *err)
{
    struct pitr_buf text;
    pitr_rc rc = PITR_OK;

    *out = NULL;
    *nout = 0;
    pitr_buf_init(&text, PITR_WAL_AUX_MAX);
    for (size_t i = 0; i < w->n; i++) {
        const struct pitr_cat_wal *e = &w->v[i];
        struct pitr_verify_history h;
        struct pitr_err perr = { 0 };
        int ok;

        if (e->kind != PITR_WAL_HISTORY || (*nout > 0 && (*out)[*nout - 1].tli == e->tli))
            continue; /* one copy per timeline is enough */
        rc = read_wal(st, e, &text, r, &ok, err);
        if (rc != PITR_OK)
            break;
        if (!ok)
            continue;
        if (pitr_verify_parse_history(text.data, text.len, e->tli, &h, &perr) != PITR_OK) {
            pitr_verify_report_add(r, NULL, e->name, "unreadable: %s", perr.msg);
            continue;
        }
        *out = pitr_realloc(*out, (*nout + 1) * sizeof(**out));
        (*out)[(*nout)++] = h;
    }
    pitr_buf_release(&text);
    return rc;
}

pitr_rc pitr_verify_run(struct pitr_storage *st,
                        const char *server,
                        const struct pitr_verify_opts *o,
                        struct pitr_verify_report *r,
                        struct pitr_err *err)
{
    struct listing l = { 0 };
    struct pitr_cat_wals w = { 0 };
    struct pitr_verify_history *h = NULL;
    struct pitr_verify_start *starts = NULL;
    char **owned = NULL; /* begin_wal and end_wal strings of starts */
    size_t nh = 0, nstarts = 0, first = 0, last = 0;
    uint32_t seg_size = PITR_WAL_SEG_SIZE_DEFAULT;
    char *prefix = pitr_asprintf("%s/base/", server);
    pitr_rc rc;

    pitr_verify_report_init(r);
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    l.prefix = prefix;
    rc = pitr_storage_list(st, prefix, list_cb, &l, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "verify: cannot list '%s'", prefix);
        goto out;
    }
    last = l.n;
    if (o->id != NULL && strcmp(o->id, "all") != 0) {
        /* One backup: its id, its name, or the newest DONE one ("latest"). */
        struct pitr_cat_backup *cat = NULL;
        size_t ncat = 0;
        const struct pitr_cat_backup *chosen = NULL;
        struct pitr_cat_query q = { 0 };

        for (first = 0; first < l.n && strcmp(l.d[first].id, o->id) != 0; first++)
            ;
        if (first == l.n) {
            q.id = o->id;
            q.timeline = -1;
            rc = pitr_cat_load(st, server, &cat, &ncat, err);
            if (rc == PITR_OK)
                rc = pitr_cat_select(cat, ncat, &q, &chosen, err);
            for (first = 0; rc == PITR_OK && first < l.n && strcmp(l.d[first].id, chosen->id) != 0;
                 first++)
                ;
            pitr_cat_list_release(cat, ncat);
            if (rc == PITR_OK && first == l.n)
                rc = pitr_err_set(err, PITR_ENOTFOUND, "verify: backup '%s' vanished", o->id);
            if (rc != PITR_OK)
                goto out;
        }
        last = first + 1;
    }
    starts = pitr_calloc(l.n + 1, sizeof(*starts));
    owned = pitr_calloc(2 * l.n + 1, sizeof(*owned));
    for (size_t i = first; i < last; i++) {
        char *bw = NULL, *ew = NULL;

        rc = check_backup(st, server, &l.d[i], o->full, r, &bw, &ew, &seg_size, err);
        owned[2 * i] = bw;
        owned[2 * i + 1] = ew;
        if (rc != PITR_OK)
            goto out;
        if (bw != NULL) {
            starts[nstarts].id = l.d[i].id;
            starts[nstarts].begin_wal = bw;
            starts[nstarts].end_wal = ew;
            nstarts++;
        }
    }
    rc = pitr_cat_wals_list(st, server, seg_size, &w, err);
    if (rc == PITR_OK)
        rc = load_histories(st, &w, &h, &nh, r, err);
    if (rc == PITR_OK && o->full)
        rc = check_wal_files(st, &w, r, err);
    if (rc != PITR_OK)
        goto out;
    pitr_verify_wal(r, &w, h, nh, starts, nstarts);
out:
    for (size_t i = 0; i < nh; i++)
        pitr_verify_history_release(&h[i]);
    pitr_free(h);
    for (size_t i = 0; owned != NULL && i < 2 * l.n; i++)
        pitr_free(owned[i]);
    pitr_free(owned);
    pitr_free(starts);
    pitr_cat_wals_release(&w);
    listing_release(&l);
    pitr_free(prefix);
    return rc;
}
