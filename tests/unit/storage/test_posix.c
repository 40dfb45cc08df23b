/* test_posix.c - unit tests for src/storage/posix.c, in a mkdtemp folder. */
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
#include <time.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/storage/storage.h"

#define MAX_KEYS 32

struct fx {
    char dir[64];
    struct pitr_storage *st;
    struct pitr_err err;
};

/* What a list() callback saw. */
struct seen {
    char *keys[MAX_KEYS];
    uint64_t sizes[MAX_KEYS];
    size_t n;
    size_t stop_after; /* 0: never stop */
    pitr_rc stop_rc;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-posix-XXXXXX");
    if (mkdtemp(f->dir) == NULL || pitr_storage_posix_new(f->dir, &f->st, &f->err) != PITR_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pitr_storage_free(f->st);
    pitr_test_rm_rf(f->dir);
    free(f);
    return 0;
}

static void put(struct fx *f, const char *key, const char *text)
{
    pitr_rc rc = pitr_storage_put(f->st, key, text, strlen(text), &f->err);

    if (rc != PITR_OK) {
        print_error("put '%s': %s\n", key, f->err.msg);
        fail();
    }
}

static pitr_rc on_key(const char *key,
                      const struct pitr_obj_info *info,
                      void *ud,
                      struct pitr_err *err)
{
    struct seen *s = ud;

    assert_true(s->n < MAX_KEYS);
    s->keys[s->n] = strdup(key);
    s->sizes[s->n] = info->size;
    s->n++;
    if (s->stop_after != 0 && s->n == s->stop_after)
        return pitr_err_set(err, s->stop_rc, "stopped by the callback after '%s'", key);
    return PITR_OK;
}

static void seen_release(struct seen *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->keys[i]);
    memset(s, 0, sizeof(*s));
}

/* List prefix and compare with want (NULL-terminated), in order. */
static void expect_list(struct fx *f, const char *prefix, const char *const *want)
{
    struct seen s = { 0 };
    size_t i;

    assert_int_equal(pitr_storage_list(f->st, prefix, on_key, &s, &f->err), PITR_OK);
    for (i = 0; want[i] != NULL; i++) {
        if (i >= s.n || strcmp(s.keys[i], want[i]) != 0) {
            print_error("list '%s': item %zu is '%s', expected '%s'\n",
                        prefix,
                        i,
                        i < s.n ? s.keys[i] : "(none)",
                        want[i]);
            seen_release(&s);
            fail();
        }
    }
    if (s.n != i) {
        print_error("list '%s': %zu keys, expected %zu (extra: '%s')\n", prefix, s.n, i, s.keys[i]);
        seen_release(&s);
        fail();
    }
    seen_release(&s);
}

/* Read path into b (a test helper that follows nothing special). */
static int pitr_test_read_file_into(const char *path, struct pitr_buf *b)
{
    struct pitr_err err;
    char tmp[256];
    FILE *fp = fopen(path, "r");
    size_t n;

    if (fp == NULL)
        return -1;
    n = fread(tmp, 1, sizeof(tmp), fp);
    fclose(fp);
    return pitr_buf_append(b, tmp, n, &err) == PITR_OK ? 0 : -1;
}

static void path_of(const struct fx *f, const char *key, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", f->dir, key);
}

/* ---- tests -------------------------------------------------------------- */

static void pitr_storage_posix_new__root_and_url(void **state)
{
    struct pitr_storage *st = NULL;
    struct pitr_err err;

    (void)state;
    assert_int_equal(pitr_storage_posix_new("/var/lib/pgpitr//", &st, &err), PITR_OK);
    assert_string_equal(st->url, "file:///var/lib/pgpitr");
    assert_string_equal(st->ops->name, "posix");
    pitr_storage_free(st);
    st = NULL;
    assert_int_equal(pitr_storage_posix_new("relative/path", &st, &err), PITR_EUSAGE);
    assert_null(st);
    assert_non_null(strstr(err.msg, "relative/path"));
    pitr_storage_free(NULL); /* a no-op */
}

static void pitr_storage_put__nested_key_creates_directories(void **state)
{
    struct fx *f = *state;
    char path[512];
    struct stat sb;
    struct pitr_buf b;

    put(f, "pg1/wals/0000000100000000/000000010000000000000001.gz", "segment bytes");
    path_of(f, "pg1/wals/0000000100000000", path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    path_of(f, "pg1/wals/0000000100000000/000000010000000000000001.gz", path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_size, 13);

    pitr_buf_init(&b, 1024);
    assert_int_equal(
      pitr_storage_get(f->st, "pg1/wals/0000000100000000/000000010000000000000001.gz", &b, &f->err),
      PITR_OK);
    assert_string_equal(b.data, "segment bytes");
    pitr_buf_release(&b);
}

/* put replaces an object whole; get appends to the caller's buffer. */
static void pitr_storage_put__replaces_and_get_appends(void **state)
{
    struct fx *f = *state;
    struct pitr_buf b;

    put(f, "k", "first version, longer");
    put(f, "k", "second");
    pitr_buf_init(&b, 1024);
    assert_int_equal(pitr_buf_append_str(&b, ">", &f->err), PITR_OK);
    assert_int_equal(pitr_storage_get(f->st, "k", &b, &f->err), PITR_OK);
    assert_string_equal(b.data, ">second");
    pitr_buf_release(&b);
    assert_int_equal(pitr_storage_put(f->st, "empty", "", 0, &f->err), PITR_OK);
    pitr_buf_init(&b, 1024);
    assert_int_equal(pitr_storage_get(f->st, "empty", &b, &f->err), PITR_OK);
    assert_int_equal(b.len, 0);
    pitr_buf_release(&b);
}

/* get is bounded by the buffer's limit. */
static void pitr_storage_get__respects_limit(void **state)
{
    struct fx *f = *state;
    struct pitr_buf b;

    put(f, "big", "0123456789");
    pitr_buf_init(&b, 9);
    assert_int_equal(pitr_storage_get(f->st, "big", &b, &f->err), PITR_ELIMIT);
    pitr_buf_release(&b);
}

static void pitr_storage_get__missing_is_not_found(void **state)
{
    struct fx *f = *state;
    struct pitr_buf b;

    pitr_buf_init(&b, 1024);
    assert_int_equal(pitr_storage_get(f->st, "no/such/key", &b, &f->err), PITR_ENOTFOUND);
    assert_int_equal(f->err.code, PITR_ENOTFOUND);
    assert_non_null(strstr(f->err.msg, "no/such/key"));
    assert_int_equal(b.len, 0);
    pitr_buf_release(&b);
}

static void pitr_storage_head__size_and_missing(void **state)
{
    struct fx *f = *state;
    struct pitr_obj_info info;

    put(f, "a/b/obj", "12345");
    memset(&info, 0x5a, sizeof(info));
    assert_int_equal(pitr_storage_head(f->st, "a/b/obj", &info, &f->err), PITR_OK);
    assert_int_equal(info.size, 5);
    assert_string_equal(info.etag, "");
    assert_int_equal(pitr_storage_head(f->st, "a/b/missing", &info, &f->err), PITR_ENOTFOUND);
    assert_int_equal(f->err.code, PITR_ENOTFOUND);
    assert_int_equal(pitr_storage_head(f->st, "x/y/z", &info, &f->err), PITR_ENOTFOUND);
    /* A directory is not an object. */
    assert_int_equal(pitr_storage_head(f->st, "a/b", &info, &f->err), PITR_ENOTFOUND);
}

static void pitr_storage_remove__existing_and_missing(void **state)
{
    struct fx *f = *state;
    struct pitr_obj_info info;
    char path[512];

    put(f, "dir/obj", "x");
    assert_int_equal(pitr_storage_remove(f->st, "dir/obj", &f->err), PITR_OK);
    path_of(f, "dir/obj", path, sizeof(path));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(pitr_storage_head(f->st, "dir/obj", &info, &f->err), PITR_ENOTFOUND);
    /* Missing key, and missing directory: both fine. */
    pitr_err_clear(&f->err);
    assert_int_equal(pitr_storage_remove(f->st, "dir/obj", &f->err), PITR_OK);
    assert_int_equal(pitr_storage_remove(f->st, "nodir/obj", &f->err), PITR_OK);
    assert_int_equal(f->err.code, PITR_OK);
}

/*
 * Ascending byte order of the whole key, across folders (a folder walk would
 * give "a/..." as a block), bytes >= 0x80 last; sizes reported.
 */
static void pitr_storage_list__ascending_byte_order(void **state)
{
    static const char *const put_order[] = {
        "z", "a/b/c", "\xc3\xa9", "ab", "a0", "a.b", "a-b", "aB", "b", "a/B", "a/b0",
    };
    struct fx *f = *state;
    struct seen s = { 0 };
    size_t i;

    for (i = 0; i < sizeof(put_order) / sizeof(put_order[0]); i++)
        put(f, put_order[i], put_order[i]);
    expect_list(
      f,
      "",
      (const char *const[]){
        "a-b", "a.b", "a/B", "a/b/c", "a/b0", "a0", "aB", "ab", "b", "z", "\xc3\xa9", NULL });

    assert_int_equal(pitr_storage_list(f->st, "", on_key, &s, &f->err), PITR_OK);
    assert_int_equal(s.n, 11);
    for (i = 0; i < s.n; i++)
        assert_int_equal(s.sizes[i], strlen(s.keys[i])); /* each object holds its key */
    seen_release(&s);
}

/* Only keys with the prefix, including prefixes that end in the middle of a name. */
static void pitr_storage_list__prefix_filter(void **state)
{
    struct fx *f = *state;

    put(f, "a/b/c", "1");
    put(f, "a/b/cd", "2");
    put(f, "a/b/cdir/x", "3");
    put(f, "a/b/d", "4");
    put(f, "a/bc/c", "5");
    put(f, "a/c", "6");
    put(f, "ab", "7");

    expect_list(f, "a/b/c", (const char *const[]){ "a/b/c", "a/b/cd", "a/b/cdir/x", NULL });
    expect_list(f, "a/b/cd", (const char *const[]){ "a/b/cd", "a/b/cdir/x", NULL });
    expect_list(f, "a/b/", (const char *const[]){ "a/b/c", "a/b/cd", "a/b/cdir/x", "a/b/d", NULL });
    expect_list(
      f, "a/b", (const char *const[]){ "a/b/c", "a/b/cd", "a/b/cdir/x", "a/b/d", "a/bc/c", NULL });
    expect_list(f,
                "a",
                (const char *const[]){
                  "a/b/c", "a/b/cd", "a/b/cdir/x", "a/b/d", "a/bc/c", "a/c", "ab", NULL });
    expect_list(f, "a/b/cdir/", (const char *const[]){ "a/b/cdir/x", NULL });
    expect_list(f, "a/b/c/", (const char *const[]){ NULL }); /* c is a file, not a folder */
    expect_list(f, "a/b/e", (const char *const[]){ NULL });
    expect_list(f, "q/r/s", (const char *const[]){ NULL }); /* missing folders: empty, OK */
    expect_list(f, "a/b/cd/x", (const char *const[]){ NULL });
}

/* Temporary files of a put in progress (or left by a crash) are not objects. */
static void pitr_storage_list__hides_temp_files(void **state)
{
    struct fx *f = *state;
    char path[512];
    int fd;

    put(f, "w/seg.gz", "x");
    path_of(f, "w/seg.gz.pitr-tmp.12345.0", path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    expect_list(f, "w/", (const char *const[]){ "w/seg.gz", NULL });
    expect_list(f, "w/seg.gz", (const char *const[]){ "w/seg.gz", NULL });
}

/* A callback error stops the listing; list() returns its code and message. */
static void pitr_storage_list__callback_error_stops(void **state)
{
    struct fx *f = *state;
    struct seen s = { 0 };

    put(f, "k1", "1");
    put(f, "k2", "2");
    put(f, "k3", "3");
    put(f, "k4", "4");
    s.stop_after = 2;
    s.stop_rc = PITR_ECONFLICT;
    assert_int_equal(pitr_storage_list(f->st, "k", on_key, &s, &f->err), PITR_ECONFLICT);
    assert_int_equal(f->err.code, PITR_ECONFLICT);
    assert_non_null(strstr(f->err.msg, "stopped by the callback after 'k2'"));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "k1");
    assert_string_equal(s.keys[1], "k2");
    seen_release(&s);
}

/* Keys that could leave the root, or are not relative, are refused and touch nothing. */
static void pitr_storage__refuses_bad_keys(void **state)
{
    static const char *const bad[] = {
        "..", "../escape", "a/../../escape", "a/..", "/etc/passwd", "",
    };
    struct fx *f = *state;
    struct pitr_buf b;
    struct pitr_obj_info info;
    char outside[512];
    size_t i;

    snprintf(outside, sizeof(outside), "%s-escape", f->dir);
    pitr_buf_init(&b, 1024);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pitr_err_clear(&f->err);
        if (pitr_storage_put(f->st, bad[i], "x", 1, &f->err) == PITR_OK) {
            print_error("put accepted key '%s'\n", bad[i]);
            fail();
        }
        assert_int_equal(f->err.code, PITR_EINTERNAL);
        assert_int_equal(pitr_storage_get(f->st, bad[i], &b, &f->err), PITR_EINTERNAL);
        assert_int_equal(pitr_storage_head(f->st, bad[i], &info, &f->err), PITR_EINTERNAL);
        assert_int_equal(pitr_storage_remove(f->st, bad[i], &f->err), PITR_EINTERNAL);
    }
    pitr_buf_release(&b);
    assert_int_equal(access("/tmp/escape", F_OK), -1);
    assert_int_equal(access(outside, F_OK), -1);
    expect_list(f, "", (const char *const[]){ NULL });
}

/* Number of entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    while (d != NULL && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    if (d != NULL)
        closedir(d);
    return n;
}

static void posix_open_write__commit_publishes_abort_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct pitr_storage_writer *w = NULL;
    struct pitr_obj_info info;
    struct pitr_buf out;
    char path[256];
    int i;

    assert_int_equal(pitr_storage_open_write(f->st, "base/b1/data.tar", &w, &f->err), PITR_OK);
    for (i = 0; i < 1000; i++)
        assert_int_equal(pitr_storage_writer_write(w, "0123456789", 10, &f->err), PITR_OK);
    /* Not visible before commit; the temp file is hidden from listings too. */
    assert_int_equal(pitr_storage_head(f->st, "base/b1/data.tar", &info, &f->err), PITR_ENOTFOUND);
    snprintf(path, sizeof(path), "%s/base/b1", f->dir);
    assert_int_equal(count_entries(path), 1);
    assert_int_equal(pitr_storage_writer_commit(w, &f->err), PITR_OK);
    assert_int_equal(pitr_storage_head(f->st, "base/b1/data.tar", &info, &f->err), PITR_OK);
    assert_int_equal(info.size, 10000);
    pitr_buf_init(&out, PITR_BUF_LIMIT_WAL);
    assert_int_equal(pitr_storage_get(f->st, "base/b1/data.tar", &out, &f->err), PITR_OK);
    assert_memory_equal(out.data + 9990, "0123456789", 10);
    pitr_buf_release(&out);

    assert_int_equal(pitr_storage_open_write(f->st, "base/b1/other", &w, &f->err), PITR_OK);
    assert_int_equal(pitr_storage_writer_write(w, "x", 1, &f->err), PITR_OK);
    pitr_storage_writer_abort(w);
    assert_int_equal(count_entries(path), 1); /* only data.tar */
    pitr_storage_writer_abort(NULL);
    assert_int_equal(pitr_storage_open_write(f->st, "../escape", &w, &f->err), PITR_EINTERNAL);
}

static void posix_open_read__ranges_and_missing(void **state)
{
    struct fx *f = *state;
    struct pitr_storage_reader *r = NULL;
    char buf[64];
    size_t got = 0;

    put(f, "obj", "abcdefghijklmnopqrstuvwxyz");
    assert_int_equal(pitr_storage_open_read(f->st, "obj", 3, 5, &r, &f->err), PITR_OK);
    assert_int_equal(r->object_size, 26);
    assert_int_equal(pitr_storage_reader_read(r, buf, 2, &got, &f->err), PITR_OK);
    assert_int_equal(got, 2);
    assert_memory_equal(buf, "de", 2);
    assert_int_equal(pitr_storage_reader_read(r, buf, sizeof(buf), &got, &f->err), PITR_OK);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "fgh", 3);
    assert_int_equal(pitr_storage_reader_read(r, buf, sizeof(buf), &got, &f->err), PITR_OK);
    assert_int_equal(got, 0);
    pitr_storage_reader_close(r);

    assert_int_equal(pitr_storage_open_read(f->st, "obj", 20, PITR_STORAGE_TO_END, &r, &f->err),
                     PITR_OK);
    assert_int_equal(pitr_storage_reader_read(r, buf, sizeof(buf), &got, &f->err), PITR_OK);
    assert_int_equal(got, 6);
    assert_memory_equal(buf, "uvwxyz", 6);
    pitr_storage_reader_close(r);

    assert_int_equal(pitr_storage_open_read(f->st, "obj", 27, 1, &r, &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_storage_open_read(f->st, "nope", 0, 1, &r, &f->err), PITR_ENOTFOUND);
    assert_null(r);
    pitr_storage_reader_close(NULL);
}

static void posix_remove_many__removes_all_missing_fine(void **state)
{
    struct fx *f = *state;
    const char *keys[] = { "a/1", "a/2", "missing", "b/3" };
    const char *bad[] = { "a/1", "../x" };
    struct pitr_obj_info info;

    put(f, "a/1", "1");
    put(f, "a/2", "2");
    put(f, "b/3", "3");
    assert_int_equal(pitr_storage_remove_many(f->st, keys, 4, &f->err), PITR_OK);
    assert_int_equal(pitr_storage_head(f->st, "a/1", &info, &f->err), PITR_ENOTFOUND);
    assert_int_equal(pitr_storage_head(f->st, "b/3", &info, &f->err), PITR_ENOTFOUND);
    assert_int_equal(pitr_storage_remove_many(f->st, bad, 2, &f->err), PITR_EINTERNAL);
    assert_non_null(strstr(f->err.msg, "'../x'"));
}

/* ---- symbolic links someone else put in the repository ------------------ */

struct outside {
    char dir[64];     /* a folder outside the repository */
    char victim[128]; /* a file in it */
};

/*
 * A repository holding one real backup file, a folder link and a file link
 * that both lead outside it, and a stale-looking temp file outside.
 */
static void plant_links(struct fx *f, struct outside *o)
{
    char path[256], target[256];
    struct timespec old[2] = { { time(NULL) - 2 * 86400, 0 }, { time(NULL) - 2 * 86400, 0 } };

    snprintf(o->dir, sizeof(o->dir), "/tmp/pgpitr-test-outside-XXXXXX");
    assert_non_null(mkdtemp(o->dir));
    assert_int_equal(pitr_test_write_file(o->dir, "victim", "precious"), 0);
    assert_int_equal(pitr_test_write_file(o->dir, "x.pitr-tmp.gone.1.1", "old temp"), 0);
    /* Two days old: stale whoever wrote it. */
    snprintf(target, sizeof(target), "%s/x.pitr-tmp.gone.1.1", o->dir);
    assert_int_equal(utimensat(AT_FDCWD, target, old, 0), 0);
    path_of(f, "pg1", path, sizeof(path));
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(pitr_test_write_file(path, "y.pitr-tmp.gone.1.1", "old temp"), 0);
    path_of(f, "pg1/y.pitr-tmp.gone.1.1", path, sizeof(path));
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    snprintf(o->victim, sizeof(o->victim), "%s/victim", o->dir);
    put(f, "pg1/base/b1/data.tar", "real");
    path_of(f, "pg1/base/evil", path, sizeof(path));
    assert_int_equal(symlink(o->dir, path), 0);
    path_of(f, "pg1/base/b1/link.tar", path, sizeof(path));
    assert_int_equal(symlink(o->victim, path), 0);
}

static void outside_release(struct outside *o)
{
    pitr_test_rm_rf(o->dir);
}

static void posix_list__never_follows_links(void **state)
{
    static const char *const want[] = { "pg1/base/b1/data.tar", NULL };
    static const char *const none[] = { NULL };
    struct fx *f = *state;
    struct outside o;

    plant_links(f, &o);
    /* Neither the linked folder's files nor the file link are listed. */
    expect_list(f, "pg1/", want);
    expect_list(f, "", want);
    expect_list(f, "pg1/base/evil/", none);
    outside_release(&o);
}

static pitr_rc collect_key(const char *key,
                           const struct pitr_obj_info *info,
                           void *ud,
                           struct pitr_err *err)
{
    struct seen *s = ud;

    (void)info;
    (void)err;
    assert_true(s->n < MAX_KEYS);
    s->keys[s->n++] = strdup(key);
    return PITR_OK;
}

static void posix_delete__never_follows_links(void **state)
{
    struct fx *f = *state;
    struct outside o;
    struct seen s = { 0 };
    struct stat sb;
    char path[256];

    plant_links(f, &o);
    /* What `delete` does: list the backup's folder, remove every key. */
    assert_int_equal(pitr_storage_list(f->st, "pg1/base/", collect_key, &s, &f->err), PITR_OK);
    assert_int_equal(pitr_storage_remove_many(f->st, (const char *const *)s.keys, s.n, &f->err),
                     PITR_OK);
    seen_release(&s);
    assert_int_equal(stat(o.victim, &sb), 0);
    /* A key naming a file through the folder link is refused, not removed. */
    assert_int_equal(pitr_storage_remove(f->st, "pg1/base/evil/victim", &f->err), PITR_EFORMAT);
    assert_non_null(strstr(f->err.msg, "pg1/base/evil' is a symbolic link"));
    assert_int_equal(stat(o.victim, &sb), 0);
    /* Removing the file link removes the link, never its target. */
    assert_int_equal(pitr_storage_remove(f->st, "pg1/base/b1/link.tar", &f->err), PITR_OK);
    path_of(f, "pg1/base/b1/link.tar", path, sizeof(path));
    assert_int_not_equal(lstat(path, &sb), 0);
    assert_int_equal(stat(o.victim, &sb), 0);
    /* cleanup does not enter the folder link: the temp file outside stays. */
    {
        size_t removed = 0;
        char tmp[160];

        assert_int_equal(pitr_storage_cleanup(f->st, "pg1/", &removed, &f->err), PITR_OK);
        assert_int_equal(removed, 1); /* the one in the repository */
        snprintf(tmp, sizeof(tmp), "%s/x.pitr-tmp.gone.1.1", o.dir);
        assert_int_equal(stat(tmp, &sb), 0);
    }
    outside_release(&o);
}

static void posix_read_write__never_follow_links(void **state)
{
    struct fx *f = *state;
    struct outside o;
    struct pitr_buf b;
    struct pitr_obj_info info;
    struct pitr_storage_reader *r = NULL;
    struct pitr_storage_writer *w = NULL;
    struct stat sb;
    char path[256];

    plant_links(f, &o);
    pitr_buf_init(&b, 1024);
    assert_int_equal(pitr_storage_get(f->st, "pg1/base/b1/link.tar", &b, &f->err), PITR_EFORMAT);
    assert_non_null(strstr(f->err.msg, "is a symbolic link"));
    assert_int_equal(pitr_storage_get(f->st, "pg1/base/evil/victim", &b, &f->err), PITR_EFORMAT);
    assert_int_equal(b.len, 0);
    assert_int_equal(pitr_storage_head(f->st, "pg1/base/b1/link.tar", &info, &f->err),
                     PITR_EFORMAT);
    assert_int_equal(pitr_storage_head(f->st, "pg1/base/evil/victim", &info, &f->err),
                     PITR_EFORMAT);
    assert_int_equal(
      pitr_storage_open_read(f->st, "pg1/base/b1/link.tar", 0, PITR_STORAGE_TO_END, &r, &f->err),
      PITR_EFORMAT);
    /* Writes through the folder link are refused: nothing appears outside. */
    assert_int_equal(pitr_storage_put(f->st, "pg1/base/evil/new", "x", 1, &f->err), PITR_EFORMAT);
    assert_int_equal(pitr_storage_open_write(f->st, "pg1/base/evil/new2", &w, &f->err),
                     PITR_EFORMAT);
    snprintf(path, sizeof(path), "%s/new", o.dir);
    assert_int_not_equal(stat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/new2", o.dir);
    assert_int_not_equal(stat(path, &sb), 0);
    /* A put over the file link replaces the link; the target keeps its bytes. */
    put(f, "pg1/base/b1/link.tar", "new");
    path_of(f, "pg1/base/b1/link.tar", path, sizeof(path));
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    pitr_buf_reset(&b);
    assert_int_equal(pitr_test_read_file_into(o.victim, &b), 0);
    assert_string_equal(b.data, "precious");
    pitr_buf_release(&b);
    outside_release(&o);
}

static void posix_get__refuses_a_file_bigger_than_the_buffer(void **state)
{
    struct fx *f = *state;
    struct pitr_buf b;

    put(f, "big", "0123456789abcdef");
    pitr_buf_init(&b, 10);
    assert_int_equal(pitr_storage_get(f->st, "big", &b, &f->err), PITR_ELIMIT);
    assert_non_null(strstr(f->err.msg, "has 16 bytes, more than the 10 allowed"));
    assert_int_equal(b.len, 0);
    pitr_buf_release(&b);

    /* The caller's own bound (a listed size), below the buffer's limit. */
    pitr_buf_init(&b, 1024);
    assert_int_equal(pitr_storage_get_max(f->st, "big", 15, &b, &f->err), PITR_ELIMIT);
    assert_non_null(strstr(f->err.msg, "has 16 bytes, more than the 15 allowed"));
    assert_int_equal(b.len, 0);
    assert_int_equal(b.limit, 1024);
    assert_int_equal(pitr_storage_get_max(f->st, "big", 16, &b, &f->err), PITR_OK);
    assert_int_equal(b.len, 16);
    assert_int_equal(b.limit, 1024);
    pitr_buf_release(&b);
}

static void posix_root__may_itself_be_a_link(void **state)
{
    struct fx *f = *state;
    struct pitr_storage *st = NULL;
    struct pitr_buf b;
    char link[96];

    (void)state;
    put(f, "k", "v");
    snprintf(link, sizeof(link), "%s-link", f->dir);
    assert_int_equal(symlink(f->dir, link), 0);
    assert_int_equal(pitr_storage_posix_new(link, &st, &f->err), PITR_OK);
    pitr_buf_init(&b, 16);
    assert_int_equal(pitr_storage_get(st, "k", &b, &f->err), PITR_OK);
    assert_string_equal(b.data, "v");
    pitr_buf_release(&b);
    pitr_storage_free(st);
    unlink(link);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define T_STREAM                                                                                   \
    T(posix_open_write__commit_publishes_abort_leaves_nothing),                                    \
      T(posix_open_read__ranges_and_missing), T(posix_remove_many__removes_all_missing_fine),
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_storage_posix_new__root_and_url),
        T_STREAM T(pitr_storage_put__nested_key_creates_directories),
        T(pitr_storage_put__replaces_and_get_appends),
        T(pitr_storage_get__respects_limit),
        T(pitr_storage_get__missing_is_not_found),
        T(pitr_storage_head__size_and_missing),
        T(pitr_storage_remove__existing_and_missing),
        T(pitr_storage_list__ascending_byte_order),
        T(pitr_storage_list__prefix_filter),
        T(pitr_storage_list__hides_temp_files),
        T(pitr_storage_list__callback_error_stops),
        T(pitr_storage__refuses_bad_keys),
        T(posix_list__never_follows_links),
        T(posix_delete__never_follows_links),
        T(posix_read_write__never_follow_links),
        T(posix_get__refuses_a_file_bigger_than_the_buffer),
        T(posix_root__may_itself_be_a_link),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
