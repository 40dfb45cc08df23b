/* test_fsutil.c - unit tests for src/core/fsutil.c, in a mkdtemp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/fsutil.h"

struct fx {
    char dir[64];
    mode_t old_umask;
    struct pitr_err err;
};

/* Remove path and everything below it. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-fsutil-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    f->old_umask = umask(022);
    pitr_err_clear(&f->err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    umask(f->old_umask);
    pitr_test_rm_rf(f->dir);
    free(f);
    return 0;
}

/* f->dir + "/" + rel, in out. */
static const char *at(const struct fx *f, const char *rel, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", f->dir, rel);
    return out;
}

static void put_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    size_t n = strlen(text);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

/* The whole content of path (at most 4095 bytes) as a string. */
static void slurp(const char *path, char *out, size_t n)
{
    FILE *fp = fopen(path, "rb");
    size_t got;

    assert_non_null(fp);
    got = fread(out, 1, n - 1, fp);
    out[got] = '\0';
    fclose(fp);
}

/* The number of entries in dir (without . and ..), and whether any is a temp file. */
static size_t count_entries(const char *dir, int *temp_seen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    *temp_seen = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (strstr(de->d_name, ".pitr-tmp.") != NULL)
            *temp_seen = 1;
        n++;
    }
    closedir(d);
    return n;
}

static void assert_msg_has(const struct pitr_err *err, const char *part)
{
    if (strstr(err->msg, part) == NULL) {
        print_error("message '%s' does not contain '%s'\n", err->msg, part);
        fail();
    }
}

/* ---- write_atomic ------------------------------------------------------- */

static void pitr_fs_write_atomic__creates_file_with_content_and_mode(void **state)
{
    struct fx *f = *state;
    char path[256], got[4096];
    struct stat sb;
    int temp;

    at(f, "new.dat", path, sizeof(path));
    assert_int_equal(pitr_fs_write_atomic(path, "hello\0world", 11, 0640, &f->err), PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0640);
    assert_int_equal(sb.st_size, 11);
    slurp(path, got, sizeof(got));
    assert_memory_equal(got, "hello\0world", 11);
    assert_int_equal(count_entries(f->dir, &temp), 1);
    assert_false(temp);

    at(f, "secret.dat", path, sizeof(path));
    assert_int_equal(pitr_fs_write_atomic(path, "s", 1, 0600, &f->err), PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
}

static void pitr_fs_write_atomic__empty_data(void **state)
{
    struct fx *f = *state;
    char path[256];
    struct stat sb;

    at(f, "empty", path, sizeof(path));
    assert_int_equal(pitr_fs_write_atomic(path, "", 0, 0600, &f->err), PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 0);
}

/*
 * Replacing an existing file: new content and mode, and by rename (a reader
 * that opened the old file still reads the old bytes, never a mix).
 */
static void pitr_fs_write_atomic__replaces_existing(void **state)
{
    struct fx *f = *state;
    char path[256], got[4096];
    struct stat sb;
    int fd, temp;
    ssize_t n;

    at(f, "target", path, sizeof(path));
    put_file(path, "the old, longer content", 0644);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);

    assert_int_equal(pitr_fs_write_atomic(path, "new", 3, 0600, &f->err), PITR_OK);
    slurp(path, got, sizeof(got));
    assert_string_equal(got, "new");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 3);
    assert_int_equal(sb.st_mode & 07777, 0600);

    n = read(fd, got, sizeof(got) - 1);
    assert_true(n >= 0);
    got[n] = '\0';
    assert_string_equal(got, "the old, longer content");
    close(fd);
    assert_int_equal(count_entries(f->dir, &temp), 1);
    assert_false(temp);
}

static void pitr_fs_write_atomic__missing_directory_fails(void **state)
{
    struct fx *f = *state;
    char path[256], dir[256];
    int temp;

    at(f, "no/such/dir/file", path, sizeof(path));
    assert_int_equal(pitr_fs_write_atomic(path, "x", 1, 0600, &f->err), PITR_EIO);
    assert_int_equal(f->err.code, PITR_EIO);
    assert_int_equal(f->err.sys_errno, ENOENT);
    assert_msg_has(&f->err, path);
    assert_int_equal(access(at(f, "no", dir, sizeof(dir)), F_OK), -1);
    assert_int_equal(count_entries(f->dir, &temp), 0);
}

/* The rename fails (the target is a directory): EIO, and the temp file is gone. */
static void pitr_fs_write_atomic__failed_rename_removes_temp(void **state)
{
    struct fx *f = *state;
    char path[256], inner[256];
    struct stat sb;
    int temp;

    at(f, "adir", path, sizeof(path));
    assert_int_equal(mkdir(path, 0755), 0);
    put_file(at(f, "adir/keep", inner, sizeof(inner)), "k", 0644);
    assert_int_equal(pitr_fs_write_atomic(path, "data", 4, 0600, &f->err), PITR_EIO);
    assert_int_equal(f->err.code, PITR_EIO);
    assert_msg_has(&f->err, path);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode)); /* untouched */
    assert_int_equal(count_entries(f->dir, &temp), 1);
    assert_false(temp);
}

/* Many writes of the same path leave exactly one file. */
static void pitr_fs_write_atomic__no_temp_files_left(void **state)
{
    struct fx *f = *state;
    char path[256], got[64], want[64];
    int i, temp;

    at(f, "counter", path, sizeof(path));
    for (i = 0; i < 20; i++) {
        snprintf(want, sizeof(want), "value %d", i);
        assert_int_equal(pitr_fs_write_atomic(path, want, strlen(want), 0600, &f->err), PITR_OK);
    }
    slurp(path, got, sizeof(got));
    assert_string_equal(got, "value 19");
    assert_int_equal(count_entries(f->dir, &temp), 1);
    assert_false(temp);
}

/* ---- read_file ---------------------------------------------------------- */

static void pitr_fs_read_file__appends_content(void **state)
{
    struct fx *f = *state;
    char path[256];
    struct pitr_buf b;

    at(f, "in", path, sizeof(path));
    put_file(path, "file content", 0644);
    pitr_buf_init(&b, 100);
    assert_int_equal(pitr_buf_append_str(&b, "pre:", &f->err), PITR_OK);
    assert_int_equal(pitr_fs_read_file(path, &b, &f->err), PITR_OK);
    assert_string_equal(b.data, "pre:file content");
    assert_int_equal(b.len, 16);
    pitr_buf_release(&b);
}

static void pitr_fs_read_file__empty_file(void **state)
{
    struct fx *f = *state;
    char path[256];
    struct pitr_buf b;

    at(f, "empty", path, sizeof(path));
    put_file(path, "", 0644);
    pitr_buf_init(&b, 0);
    assert_int_equal(pitr_fs_read_file(path, &b, &f->err), PITR_OK);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    pitr_buf_release(&b);
}

/* Bigger than one 64 KiB read: every byte, in order. */
static void pitr_fs_read_file__large_file(void **state)
{
    struct fx *f = *state;
    char path[256];
    struct pitr_buf b;
    unsigned char *data = malloc(300000);
    size_t i;

    assert_non_null(data);
    for (i = 0; i < 300000; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    at(f, "big", path, sizeof(path));
    assert_int_equal(pitr_fs_write_atomic(path, data, 300000, 0600, &f->err), PITR_OK);
    pitr_buf_init(&b, 1 << 20);
    assert_int_equal(pitr_fs_read_file(path, &b, &f->err), PITR_OK);
    assert_int_equal(b.len, 300000);
    assert_memory_equal(b.data, data, 300000);
    pitr_buf_release(&b);
    free(data);
}

/* A file of exactly the limit is read; one byte more is PITR_ELIMIT naming the file. */
static void pitr_fs_read_file__limit(void **state)
{
    struct fx *f = *state;
    char path[256], path2[256];
    struct pitr_buf b;

    at(f, "ten", path, sizeof(path));
    put_file(path, "0123456789", 0644);
    pitr_buf_init(&b, 10);
    assert_int_equal(pitr_fs_read_file(path, &b, &f->err), PITR_OK);
    assert_string_equal(b.data, "0123456789");
    pitr_buf_release(&b);

    at(f, "eleven", path2, sizeof(path2));
    put_file(path2, "0123456789A", 0644);
    pitr_buf_init(&b, 10);
    assert_int_equal(pitr_fs_read_file(path2, &b, &f->err), PITR_ELIMIT);
    assert_int_equal(f->err.code, PITR_ELIMIT);
    assert_msg_has(&f->err, path2);
    assert_true(b.len <= 10);
    pitr_buf_release(&b);

    /* The limit counts what the buffer already holds. */
    pitr_buf_init(&b, 12);
    assert_int_equal(pitr_buf_append_str(&b, "abc", &f->err), PITR_OK);
    assert_int_equal(pitr_fs_read_file(path, &b, &f->err), PITR_ELIMIT);
    pitr_buf_release(&b);
}

static void pitr_fs_read_file__missing_is_not_found(void **state)
{
    struct fx *f = *state;
    char path[256];
    struct pitr_buf b;

    at(f, "missing", path, sizeof(path));
    pitr_buf_init(&b, 100);
    assert_int_equal(pitr_fs_read_file(path, &b, &f->err), PITR_ENOTFOUND);
    assert_int_equal(f->err.code, PITR_ENOTFOUND);
    assert_int_equal(f->err.sys_errno, ENOENT);
    assert_msg_has(&f->err, path);
    assert_int_equal(b.len, 0);
    pitr_buf_release(&b);
}

static void pitr_fs_read_file__directory_is_io_error(void **state)
{
    struct fx *f = *state;
    struct pitr_buf b;

    pitr_buf_init(&b, 100);
    assert_int_equal(pitr_fs_read_file(f->dir, &b, &f->err), PITR_EIO);
    assert_msg_has(&f->err, f->dir);
    pitr_buf_release(&b);
}

/* ---- mkdir_p ------------------------------------------------------------ */

static void pitr_fs_mkdir_p__nested(void **state)
{
    struct fx *f = *state;
    char path[256], part[256];
    struct stat sb;

    at(f, "a/b/c", path, sizeof(path));
    assert_int_equal(pitr_fs_mkdir_p(path, 0750, &f->err), PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0750);
    assert_int_equal(stat(at(f, "a", part, sizeof(part)), &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0750);
    assert_int_equal(stat(at(f, "a/b", part, sizeof(part)), &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

static void pitr_fs_mkdir_p__existing_is_fine(void **state)
{
    struct fx *f = *state;
    char path[256];
    struct stat sb;

    assert_int_equal(pitr_fs_mkdir_p(f->dir, 0750, &f->err), PITR_OK);
    at(f, "x/y", path, sizeof(path));
    assert_int_equal(pitr_fs_mkdir_p(path, 0750, &f->err), PITR_OK);
    assert_int_equal(pitr_fs_mkdir_p(path, 0700, &f->err), PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750); /* an existing directory keeps its mode */
    at(f, "x/y/z/", path, sizeof(path));        /* trailing slash */
    assert_int_equal(pitr_fs_mkdir_p(path, 0750, &f->err), PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

/* A regular file in the middle of the path: EIO naming the directory. */
static void pitr_fs_mkdir_p__file_in_the_way(void **state)
{
    struct fx *f = *state;
    char file[256], path[256];

    put_file(at(f, "plain", file, sizeof(file)), "x", 0644);
    at(f, "plain/sub", path, sizeof(path));
    assert_int_equal(pitr_fs_mkdir_p(path, 0750, &f->err), PITR_EIO);
    assert_int_equal(f->err.code, PITR_EIO);
    assert_int_equal(f->err.sys_errno, ENOTDIR);
    assert_msg_has(&f->err, path);
}

/* An empty path fails cleanly (it used to read past the end of its copy). */
static void pitr_fs_mkdir_p__empty_path_fails(void **state)
{
    struct fx *f = *state;

    assert_int_equal(pitr_fs_mkdir_p("", 0750, &f->err), PITR_EIO);
    assert_int_equal(f->err.code, PITR_EIO);
    assert_int_equal(f->err.sys_errno, ENOENT);
}

/* ---- fsync_dir, is_temp_name -------------------------------------------- */

static void pitr_fs_fsync_dir__existing_and_missing(void **state)
{
    struct fx *f = *state;
    char path[256];

    assert_int_equal(pitr_fs_fsync_dir(f->dir, &f->err), PITR_OK);
    at(f, "missing", path, sizeof(path));
    assert_int_equal(pitr_fs_fsync_dir(path, &f->err), PITR_EIO);
    assert_msg_has(&f->err, path);
}

static void pitr_fs_is_temp_name__marks(void **state)
{
    (void)state;
    assert_true(pitr_fs_is_temp_name("file.gz.pitr-tmp.123.0"));
    assert_true(pitr_fs_is_temp_name("a/b.pitr-tmp.1.2"));
    assert_false(pitr_fs_is_temp_name("000000010000000000000001.gz"));
    assert_false(pitr_fs_is_temp_name("pitr-tmp"));
    assert_false(pitr_fs_is_temp_name(""));
}

/* A temp file is stale when its writer (this host, that pid) is gone, or it is old. */
static void pitr_fs_temp_is_stale__dead_writer_or_old(void **state)
{
    char host[128], name[512];
    time_t now = time(NULL);
    pid_t child;

    (void)state;
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    host[sizeof(host) - 1] = '\0';
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    snprintf(name, sizeof(name), "data.tar.gz.pitr-tmp.%s.%ld.0", host, (long)child);
    assert_true(pitr_fs_temp_is_stale(name, now, now));
    snprintf(name, sizeof(name), "data.tar.gz.pitr-tmp.%s.%ld.3", host, (long)getpid());
    assert_false(pitr_fs_temp_is_stale(name, now, now));
    assert_true(pitr_fs_temp_is_stale(name, now - PITR_FS_TEMP_MAX_AGE - 1, now));
    snprintf(name, sizeof(name), "x.pitr-tmp.other.host.example.%ld.0", (long)child);
    assert_false(pitr_fs_temp_is_stale(name, now, now));
    assert_false(pitr_fs_temp_is_stale("data.tar.gz", now - PITR_FS_TEMP_MAX_AGE - 1, now));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(pitr_fs_write_atomic__creates_file_with_content_and_mode),
        T(pitr_fs_write_atomic__empty_data),
        T(pitr_fs_write_atomic__replaces_existing),
        T(pitr_fs_write_atomic__missing_directory_fails),
        T(pitr_fs_write_atomic__failed_rename_removes_temp),
        T(pitr_fs_write_atomic__no_temp_files_left),
        T(pitr_fs_read_file__appends_content),
        T(pitr_fs_read_file__empty_file),
        T(pitr_fs_read_file__large_file),
        T(pitr_fs_read_file__limit),
        T(pitr_fs_read_file__missing_is_not_found),
        T(pitr_fs_read_file__directory_is_io_error),
        T(pitr_fs_mkdir_p__nested),
        T(pitr_fs_mkdir_p__existing_is_fine),
        T(pitr_fs_mkdir_p__file_in_the_way),
        T(pitr_fs_mkdir_p__empty_path_fails),
        T(pitr_fs_fsync_dir__existing_and_missing),
        cmocka_unit_test(pitr_fs_is_temp_name__marks),
        cmocka_unit_test(pitr_fs_temp_is_stale__dead_writer_or_old),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
