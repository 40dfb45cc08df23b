/*
 * test_extract.c - restore's confined extraction: hostile tar members
 * (absolute and ../ names, symlinks out of the target and members written
 * through them, hardlinks to outside files, setuid/setgid modes, devices)
 * are refused and nothing is written outside the target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/restore/extract.h"

struct member {
    const char *name;
    mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR; 0 with hard set: a hardlink */
    int mode;
    const char *link; /* symlink target or hardlink target */
    const char *data;
};

struct fx {
    char top[64];
    char target[96];
    char outside[96];
};

static int setup(void **state)
{
    struct fx *f = pitr_calloc(1, sizeof(*f));

    snprintf(f->top, sizeof(f->top), "/tmp/pitr-extract-XXXXXX");
    assert_non_null(mkdtemp(f->top));
    snprintf(f->target, sizeof(f->target), "%s/target", f->top);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->top);
    assert_int_equal(mkdir(f->target, 0700), 0);
    assert_int_equal(mkdir(f->outside, 0700), 0);
    assert_int_equal(pitr_test_write_file(f->outside, "canary", "untouched\n"), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pitr_test_rm_rf(f->top);
    pitr_free(f);
    return 0;
}

/* A ustar/pax archive of m[0..n) in memory; *len its size. */
static void *make_tar(const struct member *m, size_t n, size_t *len)
{
    size_t cap = 1 << 20;
    void *buf = pitr_malloc(cap);
    struct archive *a = archive_write_new();

    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        size_t dlen = m[i].data ? strlen(m[i].data) : 0;

        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_uid(e, 0);
        if (m[i].type == 0) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, m[i].link);
            archive_entry_set_size(e, 0);
            dlen = 0;
        } else {
            archive_entry_set_filetype(e, m[i].type);
            archive_entry_set_size(e, (la_int64_t)dlen);
            if (m[i].type == AE_IFLNK)
                archive_entry_set_symlink(e, m[i].link);
        }
        archive_entry_set_perm(e, (mode_t)m[i].mode);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (dlen > 0)
            assert_int_equal(archive_write_data(a, m[i].data, dlen), (la_ssize_t)dlen);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return buf;
}

/* Extract m[0..n) into the fixture's target; the result and the error text. */
static pitr_rc extract(struct fx *f, const struct member *m, size_t n, struct pitr_err *err)
{
    struct pitr_extract x;
    struct archive *a = archive_read_new();
    size_t len = 0;
    void *buf = make_tar(m, n, &len);
    pitr_rc rc;

    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
    assert_int_equal(pitr_extract_init(&x, f->target, err), PITR_OK);
    rc = pitr_extract_archive(&x, a, "base/v/data.tar", err);
    pitr_extract_release(&x);
    archive_read_free(a);
    pitr_free(buf);
    return rc;
}

/* The outside folder still holds only the canary, unchanged. */
static void assert_outside_untouched(const struct fx *f)
{
    char p[160], body[64] = "";
    FILE *fp;
    int entries = 0;
    struct stat sb;

    snprintf(p, sizeof(p), "%s/canary", f->outside);
    fp = fopen(p, "r");
    assert_non_null(fp);
    assert_non_null(fgets(body, sizeof(body), fp));
    fclose(fp);
    assert_string_equal(body, "untouched\n");
    snprintf(p, sizeof(p), "%s/evil", f->outside);
    assert_int_equal(lstat(p, &sb), -1);
    snprintf(p, sizeof(p), "%s/evil", f->top);
    assert_int_equal(lstat(p, &sb), -1);
    (void)entries;
}

static void archive__plain_members_restored(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    const struct member m[] = {
        { "./", AE_IFDIR, 0700, NULL, NULL },
        { "./global", AE_IFDIR, 0700, NULL, NULL },
        { "./global/pg_control", AE_IFREG, 0600, NULL, "control" },
        { "base/1/1259", AE_IFREG, 0640, NULL, "rel" },
        { "base/1/link_inside", AE_IFLNK, 0777, "1259", NULL },
        { "base/1/up_inside", AE_IFLNK, 0777, "../../global/pg_control", NULL },
        { "base/1/hard", 0, 0, "base/1/1259", NULL },
    };
    char p[200], t[64];
    struct stat sb;
    ssize_t n;

    assert_int_equal(extract(f, m, sizeof(m) / sizeof(m[0]), &err), PITR_OK);
    snprintf(p, sizeof(p), "%s/base/1/1259", f->target);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 3);
    assert_int_equal(sb.st_mode & 07777, 0640);
    assert_int_equal(sb.st_nlink, 2);
    snprintf(p, sizeof(p), "%s/base/1/up_inside", f->target);
    n = readlink(p, t, sizeof(t) - 1);
    assert_true(n > 0);
    t[n] = '\0';
    assert_string_equal(t, "../../global/pg_control");
    assert_outside_untouched(f);
}

static void archive__absolute_symlink_then_write_through_refused(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    struct member m[] = {
        { "escape", AE_IFLNK, 0777, NULL, NULL },
        { "escape/evil", AE_IFREG, 0644, NULL, "pwned" },
    };

    m[0].link = f->outside;
    assert_int_equal(extract(f, m, 2, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "symlink member 'escape'"));
    assert_non_null(strstr(err.msg, "base/v/data.tar"));
    assert_outside_untouched(f);
}

static void archive__dotdot_symlink_then_write_through_refused(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    const struct member m[] = {
        { "escape", AE_IFLNK, 0777, "../outside", NULL },
        { "escape/evil", AE_IFREG, 0644, NULL, "pwned" },
    };

    assert_int_equal(extract(f, m, 2, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "points to '../outside'"));
    assert_outside_untouched(f);
}

/* Every target that leaves the root, directly or through another link. */
static void link_inside__escapes(void **state)
{
    (void)state;
    assert_false(pitr_extract_link_inside("a", "/etc"));
    assert_false(pitr_extract_link_inside("a", ".."));
    assert_false(pitr_extract_link_inside("a/b", "../.."));
    assert_false(pitr_extract_link_inside("a/b", "x/../../.."));
    assert_false(pitr_extract_link_inside("a", "d/../y")); /* d may be a link to "." */
    assert_false(pitr_extract_link_inside("a", ""));
    assert_false(pitr_extract_link_inside("a", "x\ny"));
    assert_true(pitr_extract_link_inside("a", "b"));
    assert_true(pitr_extract_link_inside("a/b", "../c"));
    assert_true(pitr_extract_link_inside("a/b/c", "./../../d/e"));
}

/* A link made by an earlier volume (or a race) is never followed: the walk refuses it. */
static void archive__existing_symlink_in_target_not_followed(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    const struct member m[] = {
        { "sub/evil", AE_IFREG, 0644, NULL, "pwned" },
    };
    char p[160];

    snprintf(p, sizeof(p), "%s/sub", f->target);
    assert_int_equal(symlink(f->outside, p), 0);
    assert_int_equal(extract(f, m, 1, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "is a symlink or not a directory"));
    assert_outside_untouched(f);
}

static void archive__dotdot_member_refused(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    const struct member m[] = {
        { "base/../../evil", AE_IFREG, 0644, NULL, "pwned" },
    };

    assert_int_equal(extract(f, m, 1, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "'..' component"));
    assert_outside_untouched(f);
}

static void archive__absolute_member_refused(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    char name[160];
    const struct member m[] = {
        { name, AE_IFREG, 0644, NULL, "pwned" },
    };

    snprintf(name, sizeof(name), "%s/evil", f->outside);
    assert_int_equal(extract(f, m, 1, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "absolute path"));
    assert_outside_untouched(f);
}

static void archive__hardlink_to_outside_refused(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    char abs[160];
    const struct member m1[] = { { "evil", 0, 0, "../outside/canary", NULL } };
    const struct member m2[] = { { "evil", 0, 0, abs, NULL } };
    const struct member m3[] = {
        { "esc", AE_IFLNK, 0777, "sub", NULL },
        { "evil", 0, 0, "esc/canary", NULL },
    };
    char p[160];
    struct stat sb;

    snprintf(abs, sizeof(abs), "%s/canary", f->outside);
    assert_int_equal(extract(f, m1, 1, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "hardlink member 'evil'"));
    assert_int_equal(extract(f, m2, 1, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "hardlink member 'evil'"));
    /* Through a link inside the target: the walk to the target's folder refuses the link. */
    assert_int_equal(extract(f, m3, 2, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "symlink or not a directory"));
    assert_int_equal(stat(abs, &sb), 0);
    assert_int_equal(sb.st_nlink, 1);
    snprintf(p, sizeof(p), "%s/evil", f->target);
    assert_int_equal(lstat(p, &sb), -1);
    assert_outside_untouched(f);
}

static void archive__setuid_setgid_sticky_dropped(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    const struct member m[] = {
        { "bin", AE_IFDIR, 03777, NULL, NULL },
        { "bin/suid", AE_IFREG, 04755, NULL, "#!/bin/sh\n" },
        { "bin/sgid", AE_IFREG, 02755, NULL, "#!/bin/sh\n" },
    };
    char p[160];
    struct stat sb;

    assert_int_equal(extract(f, m, 3, &err), PITR_OK);
    snprintf(p, sizeof(p), "%s/bin/suid", f->target);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    snprintf(p, sizeof(p), "%s/bin/sgid", f->target);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    snprintf(p, sizeof(p), "%s/bin", f->target);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07000, 0);
}

static void archive__device_refused(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    const struct member m[] = { { "dev", AE_IFCHR, 0666, NULL, NULL } };

    assert_int_equal(extract(f, m, 1, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "device, FIFO or socket"));
}

/* pg_tblspc/<oid> links are restore's own; a pg_wal link becomes a directory. */
static void archive__tblspc_link_skipped_pg_wal_made_dir(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    const struct member m[] = {
        { "pg_tblspc", AE_IFDIR, 0700, NULL, NULL },
        { "pg_tblspc/16385", AE_IFLNK, 0777, "/somewhere/else", NULL },
        { "pg_wal", AE_IFLNK, 0777, "/var/wal", NULL },
    };
    char p[160];
    struct stat sb;

    assert_int_equal(extract(f, m, 3, &err), PITR_OK);
    snprintf(p, sizeof(p), "%s/pg_tblspc/16385", f->target);
    assert_int_equal(lstat(p, &sb), -1);
    snprintf(p, sizeof(p), "%s/pg_wal", f->target);
    assert_int_equal(lstat(p, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

/* A symlink member named like a file restore writes later is created, but never followed. */
static void open_dir__refuses_symlinked_folder(void **state)
{
    struct fx *f = *state;
    struct pitr_err err = { 0 };
    struct pitr_extract x;
    char p[160];
    int fd = -1;

    snprintf(p, sizeof(p), "%s/pg_wal", f->target);
    assert_int_equal(symlink(f->outside, p), 0);
    assert_int_equal(pitr_extract_init(&x, f->target, &err), PITR_OK);
    assert_int_equal(pitr_extract_open_dir(&x, "pg_wal/archive_status", 1, &fd, &err),
                     PITR_EFORMAT);
    assert_int_equal(fd, -1);
    assert_int_equal(pitr_extract_open_dir(&x, "../outside", 1, &fd, &err), PITR_EFORMAT);
    assert_int_equal(pitr_extract_open_dir(&x, "a/b", 1, &fd, &err), PITR_OK);
    assert_true(fd >= 0);
    close(fd);
    pitr_extract_release(&x);
    snprintf(p, sizeof(p), "%s/archive_status", f->outside);
    assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(archive__plain_members_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(
          archive__absolute_symlink_then_write_through_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
          archive__dotdot_symlink_then_write_through_refused, setup, teardown),
        cmocka_unit_test(link_inside__escapes),
        cmocka_unit_test_setup_teardown(
          archive__existing_symlink_in_target_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(archive__dotdot_member_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(archive__absolute_member_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(archive__hardlink_to_outside_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(archive__setuid_setgid_sticky_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(archive__device_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
          archive__tblspc_link_skipped_pg_wal_made_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(open_dir__refuses_symlinked_folder, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
