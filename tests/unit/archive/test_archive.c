/*
 * test_archive.c - unit tests for src/archive/ (wal-push, wal-fetch, key
 * layout) against a posix repository in a mkdtemp folder.
 *
 * Segments are synthetic 1 MiB files: a long page header that says 1 MiB,
 * then bytes from a seed, so two seeds give two different segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../support/logcap.h"
#include "../support/tmpdir.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"
#include "pgpitr/wal/wal.h"

#define SEG_SIZE ((size_t)1 << 20)
#define SEG1     "000000010000000000000001"
#define SEG2     "000000010000000000000002"
#define STEM1    "pg1/wals/0000000100000000/" SEG1

struct fx {
    char dir[64];
    char repo[128];
    char wal[128];     /* the "pg_wal" folder pushed from */
    char restore[128]; /* the folder fetched into */
    struct pitr_storage *st;
    struct pitr_err err;
    struct pitr_test_log log; /* the log lines of the test */
};

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-archive-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
    snprintf(f->wal, sizeof(f->wal), "%s/pg_wal", f->dir);
    snprintf(f->restore, sizeof(f->restore), "%s/restore", f->dir);
    if (mkdir(f->repo, 0700) != 0 || mkdir(f->wal, 0700) != 0 || mkdir(f->restore, 0700) != 0 ||
        pitr_storage_posix_new(f->repo, &f->st, &f->err) != PITR_OK) {
        pitr_test_rm_rf(f->dir);
        free(f);
        return -1;
    }
    pitr_log_set_level(PITR_LOG_WARN);
    pitr_log_set_sink(pitr_test_log_sink, &f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pitr_log_set_sink(NULL, NULL);
    pitr_storage_free(f->st);
    pitr_test_rm_rf(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* A segment of len bytes whose long page header says seg_size; the rest from seed. */
static unsigned char *make_segment(size_t len, uint32_t seg_size, unsigned seed)
{
    unsigned char *p = malloc(len);
    uint32_t x = 2463534242u + seed * 7919u;
    size_t i;

    assert_non_null(p);
    for (i = 0; i < len; i++) {
        if (i % 64 < 48) {
            p[i] = (unsigned char)(i / 64 + seed); /* compressible records */
        } else {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            p[i] = (unsigned char)x;
        }
    }
    memset(p, 0, 40);
    p[0] = 0x10; /* magic 0xD110 */
    p[1] = 0xD1;
    p[2] = 0x02; /* XLP_LONG_HEADER */
    p[4] = 0x01; /* timeline 1 */
    p[32] = (unsigned char)(seg_size & 0xff);
    p[33] = (unsigned char)((seg_size >> 8) & 0xff);
    p[34] = (unsigned char)((seg_size >> 16) & 0xff);
    p[35] = (unsigned char)(seg_size >> 24);
    p[37] = 0x20; /* block size 8192 */
    return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Write data as pg_wal/<name>; the path in out. */
static const char *wal_file(struct fx *f, const char *name, const void *data, size_t len)
{
    static char path[256];

    snprintf(path, sizeof(path), "%s/%s", f->wal, name);
    write_file(path, data, len);
    return path;
}

/* Write the first page address of segment name (its segment size from the header). */
static void set_page_addr(void *data, size_t len, const char *name)
{
    unsigned char *p = data;
    struct pitr_wal_name w;
    uint32_t seg_size;
    uint64_t addr;

    if (len < 40 || pitr_wal_parse_name(name, &w, NULL) != PITR_OK ||
        (w.kind != PITR_WAL_SEGMENT && w.kind != PITR_WAL_PARTIAL) ||
        pitr_wal_segment_size(p, len, &seg_size, NULL) != PITR_OK)
        return;
    addr = ((uint64_t)w.log * (0x100000000ULL / seg_size) + w.seg) * seg_size;
    for (int i = 0; i < 8; i++)
        p[8 + i] = (unsigned char)(addr >> (8 * i));
}

static pitr_rc push(struct fx *f,
                    const char *name,
                    const void *data,
                    size_t len,
                    enum pitr_codec codec,
                    enum pitr_push_outcome *outcome)
{
    struct pitr_push_opts o = { "pg1", codec, 0, 2 };

    /* Segments pushed here are the segment their name says (callers' buffers too). */
    set_page_addr((void *)(uintptr_t)data, len, name);

    pitr_err_clear(&f->err);
    return pitr_wal_push(f->st, &o, wal_file(f, name, data, len), outcome, &f->err);
}

static void push_ok(struct fx *f,
                    const char *name,
                    const void *data,
                    size_t len,
                    enum pitr_codec codec,
                    enum pitr_push_outcome want)
{
    enum pitr_push_outcome outcome = (enum pitr_push_outcome) - 1;

    if (push(f, name, data, len, codec, &outcome) != PITR_OK) {
        print_error("push of %s failed: %s\n", name, f->err.msg);
        fail();
    }
    assert_int_equal(outcome, want);
}

/* The raw stored bytes of key (the buffer is initialised here). */
static pitr_rc stored(struct fx *f, const char *key, struct pitr_buf *out)
{
    pitr_buf_init(out, 64u << 20);
    return pitr_storage_get(f->st, key, out, &f->err);
}

/* Read a whole local file into out (initialised here). */
static void read_local(const char *path, struct pitr_buf *out)
{
    int fd = open(path, O_RDONLY);
    char chunk[65536];
    struct pitr_err err;
    ssize_t n;

    assert_true(fd >= 0);
    pitr_buf_init(out, 64u << 20);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        assert_int_equal(pitr_buf_append(out, chunk, (size_t)n, &err), PITR_OK);
    assert_int_equal(n, 0);
    close(fd);
}

static pitr_rc fetch(struct fx *f, const char *name, char *dest, size_t dest_size)
{
    snprintf(dest, dest_size, "%s/RECOVERYXLOG", f->restore);
    pitr_err_clear(&f->err);
    return pitr_wal_fetch(f->st, "pg1", name, dest, &f->err);
}

static void fetch_expect(struct fx *f, const char *name, const void *want, size_t want_len)
{
    char dest[256];
    struct pitr_buf got;
    struct stat sb;

    if (fetch(f, name, dest, sizeof(dest)) != PITR_OK) {
        print_error("fetch of %s failed: %s\n", name, f->err.msg);
        fail();
    }
    read_local(dest, &got);
    assert_int_equal(got.len, want_len);
    assert_memory_equal(got.data, want, want_len);
    pitr_buf_release(&got);
    assert_int_equal(stat(dest, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    unlink(dest);
}

static pitr_rc count_key(const char *key,
                         const struct pitr_obj_info *info,
                         void *ud,
                         struct pitr_err *err)
{
    size_t *n = ud;

    (void)key;
    (void)info;
    (void)err;
    (*n)++;
    return PITR_OK;
}

static size_t count_objects(struct fx *f, const char *prefix)
{
    size_t n = 0;

    assert_int_equal(pitr_storage_list(f->st, prefix, count_key, &n, &f->err), PITR_OK);
    return n;
}

static void assert_msg_has(const char *msg, const char *part)
{
    if (strstr(msg, part) == NULL) {
        print_error("'%s' does not contain '%s'\n", msg, part);
        fail();
    }
}

/* ---- key layout --------------------------------------------------------- */

static void pitr_wal_key_stem__layout(void **state)
{
    struct pitr_err err;
    char *s;

    (void)state;
    s = pitr_wal_key_stem("pg1", SEG1, &err);
    assert_string_equal(s, STEM1);
    pitr_free(s);
    s = pitr_wal_key_stem("srv", "0000000300000012000000AB.partial", &err);
    assert_string_equal(s, "srv/wals/0000000300000012/0000000300000012000000AB.partial");
    pitr_free(s);
    s = pitr_wal_key_stem("srv", "000000010000000000000002.00000028.backup", &err);
    assert_string_equal(s, "srv/wals/0000000100000000/000000010000000000000002.00000028.backup");
    pitr_free(s);
    s = pitr_wal_key_stem("srv", "00000002.history", &err);
    assert_string_equal(s, "srv/wals/00000002.history");
    pitr_free(s);
    pitr_err_clear(&err);
    assert_null(pitr_wal_key_stem("srv", "not-a-wal", &err));
    assert_int_equal(err.code, PITR_EUSAGE);
}

/* ---- push --------------------------------------------------------------- */

static void pitr_wal_push__stores_gz_under_hash_dir(void **state)
{
    struct fx *f = *state;
    unsigned char *seg = make_segment(SEG_SIZE, SEG_SIZE, 1);
    struct pitr_buf raw, plain;
    char path[512];
    struct stat sb;

    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    snprintf(path, sizeof(path), "%s/%s.gz", f->repo, STEM1);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(count_objects(f, ""), 1);

    assert_int_equal(stored(f, STEM1 ".gz", &raw), PITR_OK);
    assert_true(raw.len < SEG_SIZE); /* compressed */
    pitr_buf_init(&plain, 2 * SEG_SIZE);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_GZIP, raw.data, raw.len, &plain, &f->err),
                     PITR_OK);
    assert_int_equal(plain.len, SEG_SIZE);
    assert_memory_equal(plain.data, seg, SEG_SIZE);
    pitr_buf_release(&plain);
    pitr_buf_release(&raw);
    free(seg);
}

static void pitr_wal_push__codec_none_has_no_suffix(void **state)
{
    struct fx *f = *state;
    unsigned char *seg = make_segment(SEG_SIZE, SEG_SIZE, 2);
    struct pitr_buf raw;

    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_NONE, PITR_PUSH_STORED);
    assert_int_equal(stored(f, STEM1, &raw), PITR_OK);
    assert_int_equal(raw.len, SEG_SIZE);
    assert_memory_equal(raw.data, seg, SEG_SIZE);
    pitr_buf_release(&raw);
    assert_int_equal(count_objects(f, ""), 1);
    free(seg);
}

/* PostgreSQL retrying after a crash: the same bytes again succeed, nothing new is written. */
static void pitr_wal_push__same_bytes_again_is_identical(void **state)
{
    struct fx *f = *state;
    unsigned char *seg = make_segment(SEG_SIZE, SEG_SIZE, 3);
    struct pitr_buf before, after;

    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(stored(f, STEM1 ".gz", &before), PITR_OK);
    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_IDENTICAL);
    /* Also when the new push would use another codec: the stored one counts. */
    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_ZSTD, PITR_PUSH_IDENTICAL);
    assert_int_equal(count_objects(f, ""), 1);
    assert_int_equal(stored(f, STEM1 ".gz", &after), PITR_OK);
    assert_int_equal(after.len, before.len);
    assert_memory_equal(after.data, before.data, before.len);
    assert_msg_has(f->log.text, "identical content");
    pitr_buf_release(&before);
    pitr_buf_release(&after);
    free(seg);
}

/* Different bytes under an archived name: refused, the stored object untouched. */
static void pitr_wal_push__different_bytes_conflict(void **state)
{
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 4);
    unsigned char *b = make_segment(SEG_SIZE, SEG_SIZE, 5);
    enum pitr_push_outcome outcome;
    struct pitr_buf before, after;

    push_ok(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(stored(f, STEM1 ".gz", &before), PITR_OK);
    assert_int_equal(push(f, SEG1, b, SEG_SIZE, PITR_CODEC_GZIP, &outcome), PITR_ECONFLICT);
    assert_int_equal(f->err.code, PITR_ECONFLICT);
    assert_msg_has(f->err.msg, SEG1);
    assert_int_equal(stored(f, STEM1 ".gz", &after), PITR_OK);
    assert_int_equal(after.len, before.len);
    assert_memory_equal(after.data, before.data, before.len);
    assert_int_equal(count_objects(f, ""), 1);
    /* A single changed byte is enough. */
    a[SEG_SIZE - 1] ^= 1;
    assert_int_equal(push(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, &outcome), PITR_ECONFLICT);
    pitr_buf_release(&before);
    pitr_buf_release(&after);
    free(a);
    free(b);
}

/* Different bytes with another codec: still a conflict, and no second variant appears. */
static void pitr_wal_push__different_codec_conflicts(void **state)
{
    static const enum pitr_codec others[] = { PITR_CODEC_NONE, PITR_CODEC_BZIP2, PITR_CODEC_SNAPPY,
                                              PITR_CODEC_XZ,   PITR_CODEC_ZSTD,  PITR_CODEC_LZ4 };
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 6);
    unsigned char *b = make_segment(SEG_SIZE, SEG_SIZE, 7);
    enum pitr_push_outcome outcome;
    struct pitr_buf before, after;
    size_t i;

    push_ok(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(stored(f, STEM1 ".gz", &before), PITR_OK);
    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (push(f, SEG1, b, SEG_SIZE, others[i], &outcome) != PITR_ECONFLICT) {
            print_error(
              "%s over gzip: expected a conflict: %s\n", pitr_codec_name(others[i]), f->err.msg);
            fail();
        }
    }
    assert_int_equal(count_objects(f, ""), 1);
    assert_int_equal(stored(f, STEM1 ".gz", &after), PITR_OK);
    assert_int_equal(after.len, before.len);
    assert_memory_equal(after.data, before.data, before.len);
    pitr_buf_release(&before);
    pitr_buf_release(&after);
    free(a);
    free(b);
}

/* A stored object that cannot be read is not overwritten either. */
static void pitr_wal_push__unreadable_stored_object_conflicts(void **state)
{
    struct fx *f = *state;
    unsigned char *seg = make_segment(SEG_SIZE, SEG_SIZE, 8);
    enum pitr_push_outcome outcome;
    struct pitr_buf after;

    assert_int_equal(pitr_storage_put(f->st, STEM1 ".gz", "not gzip at all", 15, &f->err), PITR_OK);
    assert_int_equal(push(f, SEG1, seg, SEG_SIZE, PITR_CODEC_GZIP, &outcome), PITR_ECONFLICT);
    assert_int_equal(stored(f, STEM1 ".gz", &after), PITR_OK);
    assert_string_equal(after.data, "not gzip at all");
    pitr_buf_release(&after);
    free(seg);
}

/* A segment whose size disagrees with its page header is refused; nothing is stored. */
static void pitr_wal_push__size_disagrees_with_header(void **state)
{
    struct fx *f = *state;
    unsigned char *small = make_segment(SEG_SIZE / 2, SEG_SIZE, 9);
    unsigned char *big = make_segment(2 * SEG_SIZE, SEG_SIZE, 9);
    unsigned char *says16 = make_segment(SEG_SIZE, 16u << 20, 9);
    enum pitr_push_outcome outcome;

    assert_int_equal(push(f, SEG1, small, SEG_SIZE / 2, PITR_CODEC_GZIP, &outcome), PITR_EFORMAT);
    assert_int_equal(f->err.code, PITR_EFORMAT);
    assert_msg_has(f->err.msg, SEG1);
    assert_int_equal(push(f, SEG1, big, 2 * SEG_SIZE, PITR_CODEC_GZIP, &outcome), PITR_EFORMAT);
    assert_int_equal(push(f, SEG1, says16, SEG_SIZE, PITR_CODEC_GZIP, &outcome), PITR_EFORMAT);
    /* No page header at all. */
    memset(small, 0, 40);
    assert_int_equal(push(f, SEG1, small, SEG_SIZE / 2, PITR_CODEC_GZIP, &outcome), PITR_EFORMAT);
    /* A .partial may be shorter than its segment, never longer. */
    assert_int_equal(push(f, SEG1 ".partial", big, 2 * SEG_SIZE, PITR_CODEC_GZIP, &outcome),
                     PITR_EFORMAT);
    assert_int_equal(count_objects(f, ""), 0);
    free(small);
    free(big);
    free(says16);
}

static void pitr_wal_push__bad_name_or_missing_file(void **state)
{
    struct fx *f = *state;
    struct pitr_push_opts o = { "pg1", PITR_CODEC_GZIP, 0, 2 };
    enum pitr_push_outcome outcome;
    char path[256];

    assert_int_equal(push(f, "RECOVERYXLOG", "x", 1, PITR_CODEC_GZIP, &outcome), PITR_EUSAGE);
    assert_msg_has(f->err.msg, "RECOVERYXLOG");
    snprintf(path, sizeof(path), "%s/%s", f->wal, SEG2);
    assert_int_equal(pitr_wal_push(f->st, &o, path, &outcome, &f->err), PITR_ENOTFOUND);
    assert_int_equal(count_objects(f, ""), 0);
}

/* History files have no hash folder: <server>/wals/<name><suffix>. */
static void pitr_wal_push__history_directly_under_wals(void **state)
{
    static const char hist[] = "1\t0/3000158\tno recovery target specified\n";
    struct fx *f = *state;
    struct pitr_obj_info info;

    push_ok(f, "00000002.history", hist, sizeof(hist) - 1, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(pitr_storage_head(f->st, "pg1/wals/00000002.history.gz", &info, &f->err),
                     PITR_OK);
    assert_int_equal(count_objects(f, ""), 1);
    push_ok(f, "00000002.history", hist, sizeof(hist) - 1, PITR_CODEC_GZIP, PITR_PUSH_IDENTICAL);
    fetch_expect(f, "00000002.history", hist, sizeof(hist) - 1);
}

/* ---- fetch -------------------------------------------------------------- */

static void pitr_wal_fetch__restores_identical_bytes(void **state)
{
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 10);
    unsigned char *b = make_segment(SEG_SIZE, SEG_SIZE, 11);

    push_ok(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    push_ok(f, SEG2, b, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    fetch_expect(f, SEG1, a, SEG_SIZE);
    fetch_expect(f, SEG2, b, SEG_SIZE);
    free(a);
    free(b);
}

/* Whatever the codec, the stored variant is found by its suffix and decoded. */
static void pitr_wal_fetch__every_codec(void **state)
{
    struct fx *f = *state;
    char name[32];
    unsigned char *seg;
    int i;

    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        snprintf(name, sizeof(name), "0000000100000000000000%02X", 0x10 + i);
        seg = make_segment(SEG_SIZE, SEG_SIZE, 20 + (unsigned)i);
        push_ok(f, name, seg, SEG_SIZE, (enum pitr_codec)i, PITR_PUSH_STORED);
        fetch_expect(f, name, seg, SEG_SIZE);
        free(seg);
    }
    assert_int_equal(count_objects(f, ""), PITR_CODEC_COUNT);
}

/* Not archived: PITR_ENOTFOUND, and no destination file is created. */
static void pitr_wal_fetch__missing_is_not_found(void **state)
{
    struct fx *f = *state;
    unsigned char *seg = make_segment(SEG_SIZE, SEG_SIZE, 12);
    char dest[256];

    assert_int_equal(fetch(f, SEG1, dest, sizeof(dest)), PITR_ENOTFOUND); /* empty repository */
    assert_int_equal(f->err.code, PITR_ENOTFOUND);
    assert_msg_has(f->err.msg, SEG1);
    assert_int_equal(access(dest, F_OK), -1);
    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(fetch(f, SEG2, dest, sizeof(dest)), PITR_ENOTFOUND); /* the next one */
    assert_int_equal(access(dest, F_OK), -1);
    assert_int_equal(fetch(f, "00000002.history", dest, sizeof(dest)), PITR_ENOTFOUND);
    assert_int_equal(access(dest, F_OK), -1);
    /* A name that starts like an archived one is not it. */
    assert_int_equal(fetch(f, "00000001000000000000000", dest, sizeof(dest)), PITR_EUSAGE);
    free(seg);
}

/* Only the .partial is archived (end of a timeline): it is restored for the full name. */
static void pitr_wal_fetch__partial_only(void **state)
{
    struct fx *f = *state;
    unsigned char *part = make_segment(SEG_SIZE, SEG_SIZE, 13);

    push_ok(f, SEG1 ".partial", part, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(count_objects(f, STEM1 ".partial.gz"), 1);
    fetch_expect(f, SEG1, part, SEG_SIZE);
    assert_msg_has(f->log.text, "partial");
    free(part);
}

/* A shorter .partial is restored as it is. */
static void pitr_wal_fetch__short_partial(void **state)
{
    struct fx *f = *state;
    unsigned char *part = make_segment(SEG_SIZE / 4, SEG_SIZE, 14);

    push_ok(f, SEG1 ".partial", part, SEG_SIZE / 4, PITR_CODEC_ZSTD, PITR_PUSH_STORED);
    fetch_expect(f, SEG1, part, SEG_SIZE / 4);
    free(part);
}

static void pitr_wal_fetch__prefers_full_over_partial(void **state)
{
    struct fx *f = *state;
    unsigned char *part = make_segment(SEG_SIZE, SEG_SIZE, 15);
    unsigned char *full = make_segment(SEG_SIZE, SEG_SIZE, 16);

    /* The .partial in the cheapest format, the full segment in the slowest. */
    push_ok(f, SEG1 ".partial", part, SEG_SIZE, PITR_CODEC_NONE, PITR_PUSH_STORED);
    push_ok(f, SEG1, full, SEG_SIZE, PITR_CODEC_XZ, PITR_PUSH_STORED);
    assert_int_equal(count_objects(f, STEM1), 2);
    fetch_expect(f, SEG1, full, SEG_SIZE);
    free(part);
    free(full);
}

/* A corrupt stored object: a failure other than "not found", and no destination file. */
static void pitr_wal_fetch__corrupt_object_fails(void **state)
{
    struct fx *f = *state;
    unsigned char *seg = make_segment(SEG_SIZE, SEG_SIZE, 17);
    struct pitr_buf raw;
    char dest[256];
    pitr_rc rc;

    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(stored(f, STEM1 ".gz", &raw), PITR_OK);
    assert_int_equal(pitr_storage_put(f->st, STEM1 ".gz", raw.data, raw.len / 2, &f->err),
                     PITR_OK); /* truncated */
    rc = fetch(f, SEG1, dest, sizeof(dest));
    assert_int_not_equal(rc, PITR_OK);
    assert_int_not_equal(rc, PITR_ENOTFOUND);
    assert_int_equal(rc, PITR_EFORMAT);
    assert_msg_has(f->err.msg, STEM1 ".gz");
    assert_int_equal(access(dest, F_OK), -1);

    /* A flipped byte (gzip CRC) too. */
    raw.data[raw.len / 2] ^= 0x01;
    assert_int_equal(pitr_storage_put(f->st, STEM1 ".gz", raw.data, raw.len, &f->err), PITR_OK);
    assert_int_equal(fetch(f, SEG1, dest, sizeof(dest)), PITR_EFORMAT);
    assert_int_equal(access(dest, F_OK), -1);
    pitr_buf_release(&raw);
    free(seg);
}

/* A stored full segment of the wrong size (or without a header) is not restored. */
static void pitr_wal_fetch__bad_stored_segment_fails(void **state)
{
    struct fx *f = *state;
    unsigned char *half = make_segment(SEG_SIZE / 2, SEG_SIZE, 18);
    char dest[256];

    assert_int_equal(pitr_storage_put(f->st, STEM1, half, SEG_SIZE / 2, &f->err), PITR_OK);
    assert_int_equal(fetch(f, SEG1, dest, sizeof(dest)), PITR_EFORMAT);
    assert_int_equal(access(dest, F_OK), -1);
    memset(half, 0, 40);
    assert_int_equal(pitr_storage_put(f->st, STEM1, half, SEG_SIZE / 2, &f->err), PITR_OK);
    assert_int_equal(fetch(f, SEG1, dest, sizeof(dest)), PITR_EFORMAT);
    assert_int_equal(access(dest, F_OK), -1);
    free(half);
}

/* Fetching over an existing destination replaces it whole. */
static void pitr_wal_fetch__replaces_destination(void **state)
{
    struct fx *f = *state;
    unsigned char *seg = make_segment(SEG_SIZE, SEG_SIZE, 19);
    char dest[256];
    struct pitr_buf got;

    push_ok(f, SEG1, seg, SEG_SIZE, PITR_CODEC_LZ4, PITR_PUSH_STORED);
    snprintf(dest, sizeof(dest), "%s/RECOVERYXLOG", f->restore);
    write_file(dest, "stale", 5);
    assert_int_equal(fetch(f, SEG1, dest, sizeof(dest)), PITR_OK);
    read_local(dest, &got);
    assert_int_equal(got.len, SEG_SIZE);
    assert_memory_equal(got.data, seg, SEG_SIZE);
    pitr_buf_release(&got);
    free(seg);
}

/*
 * The object named ...02 holds segment ...01's bytes (right size, valid
 * header): refused, naming the object and the addresses; nothing at DEST.
 */
static void pitr_wal_fetch__other_segments_bytes_refused(void **state)
{
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 30);
    struct pitr_buf raw;
    char dest[256];

    push_ok(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(stored(f, STEM1 ".gz", &raw), PITR_OK);
    assert_int_equal(
      pitr_storage_put(f->st, "pg1/wals/0000000100000000/" SEG2 ".gz", raw.data, raw.len, &f->err),
      PITR_OK);
    assert_int_equal(fetch(f, SEG2, dest, sizeof(dest)), PITR_EFORMAT);
    assert_msg_has(f->err.msg, "no valid copy of WAL file '" SEG2 "'");
    assert_msg_has(f->err.msg, "'pg1/wals/0000000100000000/" SEG2 ".gz'");
    assert_msg_has(f->err.msg, "its first page is at 0/100000, its name says 0/200000");
    assert_int_equal(access(dest, F_OK), -1);
    pitr_buf_release(&raw);
    free(a);
}

/* A copy that fails the check falls back to the next stored one. */
static void pitr_wal_fetch__bad_variant_falls_back(void **state)
{
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 31);
    unsigned char *b = make_segment(SEG_SIZE, SEG_SIZE, 32);

    push_ok(f, SEG2, b, SEG_SIZE, PITR_CODEC_XZ, PITR_PUSH_STORED);
    /* The cheapest form (plain) holds segment 1's bytes. */
    set_page_addr(a, SEG_SIZE, SEG1);
    assert_int_equal(
      pitr_storage_put(f->st, "pg1/wals/0000000100000000/" SEG2, a, SEG_SIZE, &f->err), PITR_OK);
    fetch_expect(f, SEG2, b, SEG_SIZE);
    assert_msg_has(f->log.text, "is not a valid copy of '" SEG2 "'");
    assert_msg_has(f->log.text, "trying the next stored copy");
    free(a);
    free(b);
}

/* A zero-byte plain object no longer shadows a valid .gz of the same segment. */
static void pitr_wal_fetch__empty_plain_does_not_shadow_gz(void **state)
{
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 33);

    push_ok(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(pitr_storage_put(f->st, STEM1, "", 0, &f->err), PITR_OK);
    fetch_expect(f, SEG1, a, SEG_SIZE);
    assert_msg_has(f->log.text, "too short");
    /* The same for a history file. */
    push_ok(f,
            "00000002.history",
            "1\t0/3000000\tno recovery target specified\n",
            41,
            PITR_CODEC_GZIP,
            PITR_PUSH_STORED);
    assert_int_equal(pitr_storage_put(f->st, "pg1/wals/00000002.history", "", 0, &f->err), PITR_OK);
    fetch_expect(f, "00000002.history", "1\t0/3000000\tno recovery target specified\n", 41);
    free(a);
}

/*
 * Store under key a gzip bomb: big bytes of zeros that start with a
 * segment header of SEG_SIZE for SEG1.
 */
static void store_bomb(struct fx *f, const char *key, size_t big)
{
    unsigned char *bomb = calloc(1, big);
    unsigned char *hdr = make_segment(SEG_SIZE, SEG_SIZE, 34);
    struct pitr_buf packed;

    assert_non_null(bomb);
    memcpy(bomb, hdr, 40);
    set_page_addr(bomb, big, SEG1);
    pitr_buf_init(&packed, 2 * big);
    assert_int_equal(pitr_codec_compress(PITR_CODEC_GZIP, 9, bomb, big, &packed, &f->err), PITR_OK);
    assert_int_equal(pitr_storage_put(f->st, key, packed.data, packed.len, &f->err), PITR_OK);
    pitr_buf_release(&packed);
    free(hdr);
    free(bomb);
}

/* A gzip bomb under a segment's name costs one segment, and is refused. */
static void pitr_wal_fetch__bomb_bounded_by_header(void **state)
{
    struct fx *f = *state;
    char dest[256];

    store_bomb(f, STEM1 ".gz", (size_t)32 << 20);
    assert_int_equal(fetch(f, SEG1, dest, sizeof(dest)), PITR_EFORMAT);
    assert_msg_has(f->err.msg, "more than the 1048576 bytes its header announces");
    assert_int_equal(access(dest, F_OK), -1);
}

/* A temp file in the repository, made for key, last modified age seconds ago. */
static char *temp_of(struct fx *f, const char *key, time_t age)
{
    char *path, *tmp;
    struct timeval tv[2];

    path = pitr_asprintf("%s/%s", f->repo, key);
    tmp = pitr_fs_temp_path(path);
    write_file(tmp, "partial", 7);
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= age;
    tv[1] = tv[0];
    assert_int_equal(utimes(tmp, tv), 0);
    pitr_free(path);
    return tmp;
}

/*
 * wal-push removes what a killed push of the same name left (a temp file
 * of a writer that is gone), and nothing of other keys or live writers.
 */
static void pitr_wal_push__removes_stale_temp_files_of_its_key(void **state)
{
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 35);
    unsigned char *b = make_segment(SEG_SIZE, SEG_SIZE, 36);
    char *dead, *live, *other;

    push_ok(f, SEG2, b, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED); /* makes the folder */
    dead = temp_of(f, STEM1 ".gz", 2 * PITR_FS_TEMP_MAX_AGE);
    live = temp_of(f, STEM1 ".gz", 0); /* this process: alive */
    other = temp_of(f, "pg1/wals/0000000100000000/" SEG2 ".gz", 2 * PITR_FS_TEMP_MAX_AGE);
    push_ok(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(access(dead, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    pitr_free(dead);
    pitr_free(live);
    pitr_free(other);
    free(a);
    free(b);
}

static int cleanups;

static pitr_rc counting_cleanup(struct pitr_storage *st,
                                const char *prefix,
                                size_t *removed,
                                struct pitr_err *err)
{
    (void)st;
    (void)prefix;
    (void)err;
    cleanups++;
    *removed = 0;
    return PITR_OK;
}

/*
 * A driver whose put is one all-or-nothing request (S3 PutObject) leaves
 * nothing for cleanup: wal-push does not run it (two requests on S3); a
 * driver whose put may leave a temp file gets it after every stored push.
 */
static void pitr_wal_push__cleanup_only_where_put_may_leave_temps(void **state)
{
    struct fx *f = *state;
    const struct pitr_storage_ops *orig = f->st->ops;
    struct pitr_storage_ops ops = *orig;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 38);
    unsigned char *b = make_segment(SEG_SIZE, SEG_SIZE, 39);

    ops.cleanup = counting_cleanup;
    ops.put_leaves_nothing = 1;
    f->st->ops = &ops;
    cleanups = 0;
    assert_false(pitr_storage_put_may_leave_temps(f->st));
    push_ok(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(cleanups, 0);
    ops.put_leaves_nothing = 0;
    assert_true(pitr_storage_put_may_leave_temps(f->st));
    push_ok(f, SEG2, b, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_STORED);
    assert_int_equal(cleanups, 1);
    /* An identical push stores nothing, so it has nothing to clean. */
    push_ok(f, SEG2, b, SEG_SIZE, PITR_CODEC_GZIP, PITR_PUSH_IDENTICAL);
    assert_int_equal(cleanups, 1);
    f->st->ops = orig;
    free(a);
    free(b);
}

/* A stored object that decodes to more than the local file conflicts, decoded no further. */
static void pitr_wal_push__stored_bomb_conflicts(void **state)
{
    struct fx *f = *state;
    unsigned char *a = make_segment(SEG_SIZE, SEG_SIZE, 37);
    enum pitr_push_outcome outcome;

    store_bomb(f, STEM1 ".gz", (size_t)64 << 20);
    assert_int_equal(push(f, SEG1, a, SEG_SIZE, PITR_CODEC_GZIP, &outcome), PITR_ECONFLICT);
    assert_msg_has(f->err.msg, STEM1 ".gz");
    assert_msg_has(f->err.msg, "1048576");
    free(a);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_wal_key_stem__layout),
        T(pitr_wal_push__stores_gz_under_hash_dir),
        T(pitr_wal_push__codec_none_has_no_suffix),
        T(pitr_wal_push__same_bytes_again_is_identical),
        T(pitr_wal_push__different_bytes_conflict),
        T(pitr_wal_push__different_codec_conflicts),
        T(pitr_wal_push__unreadable_stored_object_conflicts),
        T(pitr_wal_push__size_disagrees_with_header),
        T(pitr_wal_push__bad_name_or_missing_file),
        T(pitr_wal_push__history_directly_under_wals),
        T(pitr_wal_push__removes_stale_temp_files_of_its_key),
        T(pitr_wal_push__cleanup_only_where_put_may_leave_temps),
        T(pitr_wal_push__stored_bomb_conflicts),
        T(pitr_wal_fetch__restores_identical_bytes),
        T(pitr_wal_fetch__every_codec),
        T(pitr_wal_fetch__missing_is_not_found),
        T(pitr_wal_fetch__partial_only),
        T(pitr_wal_fetch__short_partial),
        T(pitr_wal_fetch__prefers_full_over_partial),
        T(pitr_wal_fetch__corrupt_object_fails),
        T(pitr_wal_fetch__bad_stored_segment_fails),
        T(pitr_wal_fetch__replaces_destination),
        T(pitr_wal_fetch__other_segments_bytes_refused),
        T(pitr_wal_fetch__bad_variant_falls_back),
        T(pitr_wal_fetch__empty_plain_does_not_shadow_gz),
        T(pitr_wal_fetch__bomb_bounded_by_header),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
