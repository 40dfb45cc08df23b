/*
 * test_manifest_dir.c - unit tests for src/agent/manifest_dir.c: a folder of
 * manifests polled for changes (in a mkdtemp folder).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"

struct fx {
    char dir[64];
    struct pitr_manifest_dir *d;
    struct pitr_err err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-mfdir-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    if (pitr_manifest_dir_new(f->dir, &f->d, &f->err) != PITR_OK) {
        pitr_test_rm_rf(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pitr_manifest_dir_free(f->d);
    pitr_test_rm_rf(f->dir);
    free(f);
    return 0;
}

/* Write name as an editor does: a new file renamed over the old one. */
static void put(const struct fx *f, const char *name, const char *body)
{
    char tmp[256], path[256];

    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", f->dir, name);
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    {
        FILE *fp = fopen(tmp, "w");

        assert_non_null(fp);
        assert_int_equal(fputs(body, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
    }
    assert_int_equal(rename(tmp, path), 0);
}

/* Overwrite in place, same size (the case stat cannot see within a clock tick). */
static void put_in_place(const struct fx *f, const char *name, const char *body)
{
    char path[256];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    assert_int_equal(close(fd), 0);
}

static void poll_ok(struct fx *f, int want_changed, struct pitr_mf_set *snap)
{
    int changed = -1;

    assert_int_equal(pitr_manifest_dir_poll(f->d, &changed, &f->err), PITR_OK);
    assert_int_equal(changed, want_changed);
    pitr_manifest_set_release(snap);
    assert_int_equal(pitr_manifest_dir_snapshot(f->d, snap, &f->err), PITR_OK);
}

static const struct pitr_mf_diag *find_diag(const struct pitr_mf_set *set, const char *needle)
{
    for (size_t i = 0; i < set->n_diags; i++)
        if (strstr(set->diags[i].msg, needle) != NULL)
            return &set->diags[i];
    return NULL;
}

/* find_diag that fails the test when nothing matches; never NULL, so the
 * checks after it need no guard (gcc cannot see that fail_msg returns not). */
static const struct pitr_mf_diag *need_diag(const struct pitr_mf_set *set, const char *needle)
{
    static struct pitr_mf_diag none = { .msg = (char *)"", .loc = { .file = (char *)"" } };
    const struct pitr_mf_diag *d = find_diag(set, needle);

    if (d == NULL) {
        fail_msg("no diagnostic holding '%s'", needle);
        return &none;
    }
    return d;
}

static const char sb_hourly[] = "apiVersion: postgresql.cnpg.io/v1\n"
                                "kind: ScheduledBackup\n"
                                "metadata: {name: sb, namespace: app-db}\n"
                                "spec:\n"
                                "  schedule: '0 0 * * * *'\n"
                                "  cluster: {name: pg}\n";
static const char sb_daily[] = "apiVersion: postgresql.cnpg.io/v1\n"
                               "kind: ScheduledBackup\n"
                               "metadata: {name: sb, namespace: app-db}\n"
                               "spec:\n"
                               "  schedule: '0 0 0 * * *'\n"
                               "  cluster: {name: pg}\n";
static const char cluster[] = "apiVersion: postgresql.cnpg.io/v1\n"
                              "kind: Cluster\n"
                              "metadata: {name: pg, namespace: app-db}\n"
                              "spec:\n"
                              "  backup:\n"
                              "    barmanObjectStore:\n"
                              "      destinationPath: s3://b/p\n"
                              "      s3Credentials:\n"
                              "        accessKeyId: {name: creds, key: id}\n"
                              "        secretAccessKey: {name: creds, key: secret}\n";
static const char secret1[] = "apiVersion: v1\n"
                              "kind: Secret\n"
                              "metadata: {name: creds, namespace: app-db}\n"
                              "stringData: {id: AKID1, secret: S1}\n";
static const char secret2[] = "apiVersion: v1\n"
                              "kind: Secret\n"
                              "metadata: {name: creds, namespace: app-db}\n"
                              "stringData: {id: AKID2, secret: S2}\n";

static void pitr_manifest_dir_poll__change_is_seen_with_new_values(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };

    poll_ok(f, 1, &snap); /* the first poll: the (empty) set is new */
    assert_int_equal(snap.n_scheduled, 0);
    put(f, "sb.yaml", sb_hourly);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 1);
    assert_string_equal(snap.scheduled[0].schedule, "0 0 * * * *");
    poll_ok(f, 0, &snap);
    put(f, "sb.yaml", sb_daily);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 1);
    assert_string_equal(snap.scheduled[0].schedule, "0 0 0 * * *");
    assert_non_null(strstr(snap.scheduled[0].meta.loc.file, "/sb.yaml"));
    pitr_manifest_set_release(&snap);
}

/*
 * Same size, same inode, rewritten right after each poll: every change is
 * seen. (Where file times move in coarse clock ticks the stat fields can
 * stay the same and the "racy file" rule does the work; on a file system
 * with fine time stamps, as this test's /tmp usually is, mtime alone does.)
 */
static void pitr_manifest_dir_poll__in_place_rewrite_right_after_a_poll(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };

    put(f, "sb.yaml", sb_daily);
    poll_ok(f, 1, &snap);
    for (int i = 0; i < 40; i++) {
        int odd = i % 2;

        put_in_place(f, "sb.yaml", odd ? sb_daily : sb_hourly);
        poll_ok(f, 1, &snap);
        assert_string_equal(snap.scheduled[0].schedule, odd ? "0 0 0 * * *" : "0 0 * * * *");
    }
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_poll__broken_file_keeps_last_good_reported_once(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };
    const struct pitr_mf_diag *d;

    put(f, "sb.yaml", sb_hourly);
    poll_ok(f, 1, &snap);
    put(f, "sb.yaml", "apiVersion: v1\nkind: [unclosed\n");
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 1);
    assert_string_equal(snap.scheduled[0].schedule, "0 0 * * * *");
    assert_int_equal(snap.n_diags, 1);
    d = &snap.diags[0];
    assert_int_equal(d->severity, PITR_MF_ERROR);
    assert_non_null(strstr(d->loc.file, "/sb.yaml"));
    assert_int_equal(d->loc.line, 3);
    assert_non_null(strstr(d->msg, "last good version stays in force"));
    /* Not again, however often it is polled or re-read. */
    poll_ok(f, 0, &snap);
    assert_int_equal(snap.n_diags, 0);
    put(f, "sb.yaml", "apiVersion: v1\nkind: [unclosed\n");
    poll_ok(f, 0, &snap);
    assert_int_equal(snap.n_diags, 0);
    assert_int_equal(snap.n_scheduled, 1);
    /* Repaired with new content: the new values. */
    put(f, "sb.yaml", sb_daily);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_diags, 0);
    assert_string_equal(snap.scheduled[0].schedule, "0 0 0 * * *");
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_poll__removed_file_drops_its_documents(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };
    char path[256];

    put(f, "a.yaml", sb_hourly);
    put(f, "b.yml", cluster);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 1);
    assert_int_equal(snap.n_clusters, 1);
    snprintf(path, sizeof(path), "%s/a.yaml", f->dir);
    assert_int_equal(unlink(path), 0);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 0);
    assert_int_equal(snap.n_clusters, 1);
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_poll__secret_in_another_file_and_its_change(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };

    put(f, "cluster.yaml", cluster);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.clusters[0].store.resolved, 0);
    assert_non_null(
      find_diag(&snap, "Secret 'app-db/creds' (s3Credentials.accessKeyId) not found"));
    put(f, "secret.yaml", secret1);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.clusters[0].store.resolved, 1);
    assert_string_equal(snap.clusters[0].store.access_key_id, "AKID1");
    put(f, "secret.yaml", secret2);
    poll_ok(f, 1, &snap);
    assert_string_equal(snap.clusters[0].store.access_key_id, "AKID2");
    assert_string_equal(snap.clusters[0].store.secret_access_key, "S2");
    for (size_t i = 0; i < snap.n_diags; i++)
        assert_null(strstr(snap.diags[i].msg, "S2"));
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_poll__duplicate_first_file_wins(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };
    const struct pitr_mf_diag *d;

    put(f, "b.yaml", sb_daily);
    put(f, "a.yaml", sb_hourly);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 1);
    assert_string_equal(snap.scheduled[0].schedule, "0 0 * * * *"); /* a.yaml */
    d = need_diag(&snap, "ScheduledBackup 'app-db/sb' is already defined at");
    assert_non_null(strstr(d->loc.file, "/b.yaml"));
    assert_int_equal(d->loc.line, 1);
    assert_non_null(strstr(d->msg, "/a.yaml:1"));
    poll_ok(f, 0, &snap);
    assert_int_equal(snap.n_diags, 0);
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_poll__skips_dotfiles_other_names_and_links(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };
    char path[256], target[256];
    const struct pitr_mf_diag *d;

    put(f, ".hidden.yaml", sb_hourly);
    put(f, "evil\nname.yaml", sb_hourly);
    put(f, "notes.txt", sb_hourly);
    put(f, "sb.yaml~", sb_hourly);
    /* A link to a manifest outside the folder: never followed. */
    snprintf(target, sizeof(target), "%s.outside.yaml", f->dir);
    assert_int_equal(pitr_test_write_file("/", target + 1, sb_daily), 0);
    snprintf(path, sizeof(path), "%s/link.yaml", f->dir);
    assert_int_equal(symlink(target, path), 0);
    snprintf(path, sizeof(path), "%s/dir.yaml", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 0);
    d = need_diag(&snap, "a symbolic link");
    assert_non_null(strstr(d->loc.file, "/link.yaml"));
    assert_non_null(find_diag(&snap, "not a regular file"));
    assert_non_null(find_diag(&snap, "1 file name(s) with control characters ignored"));
    assert_int_equal(snap.n_diags, 3);
    unlink(target);
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_poll__oversized_file_keeps_last_good(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };
    size_t n = PITR_MF_MAX_FILE_BYTES + 10;
    char *big = pitr_malloc(n + 1);

    put(f, "sb.yaml", sb_hourly);
    poll_ok(f, 1, &snap);
    memset(big, '#', n);
    big[n] = '\0';
    put(f, "sb.yaml", big);
    poll_ok(f, 1, &snap);
    assert_int_equal(snap.n_scheduled, 1);
    assert_non_null(find_diag(&snap, "larger than"));
    pitr_free(big);
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_poll__file_count_bounded(void **state)
{
    struct fx *f = *state;
    struct pitr_mf_set snap = { 0 };
    const struct pitr_mf_diag *d;
    char name[32];

    for (int i = 0; i < PITR_MF_MAX_FILES + 2; i++) {
        snprintf(name, sizeof(name), "f%04d.yaml", i);
        assert_int_equal(pitr_test_write_file(f->dir, name, "# empty\n"), 0);
    }
    poll_ok(f, 1, &snap);
    d = need_diag(&snap, "more than 1000 manifest files (or 100000 entries); 2 were ignored");
    assert_int_equal(d->severity, PITR_MF_ERROR);
    poll_ok(f, 0, &snap);
    assert_int_equal(snap.n_diags, 0);
    pitr_manifest_set_release(&snap);
}

static void pitr_manifest_dir_new__missing_folder(void **state)
{
    struct pitr_manifest_dir *d = NULL;
    struct pitr_err err = { 0 };
    struct fx *f = *state;
    char path[256];
    int changed;

    assert_int_equal(pitr_manifest_dir_new("/nonexistent/pgpitr-manifests", &d, &err),
                     PITR_ENOTFOUND);
    assert_null(d);
    assert_non_null(strstr(err.msg, "/nonexistent/pgpitr-manifests"));
    /* A folder removed under a watcher: the poll fails, the last set stays. */
    put(f, "sb.yaml", sb_hourly);
    assert_int_equal(pitr_manifest_dir_poll(f->d, &changed, &err), PITR_OK);
    snprintf(path, sizeof(path), "%s/sb.yaml", f->dir);
    unlink(path);
    rmdir(f->dir);
    assert_int_equal(pitr_manifest_dir_poll(f->d, &changed, &err), PITR_ENOTFOUND);
    assert_int_equal(changed, 0);
    {
        struct pitr_mf_set snap = { 0 };

        assert_int_equal(pitr_manifest_dir_snapshot(f->d, &snap, &err), PITR_OK);
        assert_int_equal(snap.n_scheduled, 1);
        pitr_manifest_set_release(&snap);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(pitr_manifest_dir_poll__change_is_seen_with_new_values),
        T(pitr_manifest_dir_poll__in_place_rewrite_right_after_a_poll),
        T(pitr_manifest_dir_poll__broken_file_keeps_last_good_reported_once),
        T(pitr_manifest_dir_poll__removed_file_drops_its_documents),
        T(pitr_manifest_dir_poll__secret_in_another_file_and_its_change),
        T(pitr_manifest_dir_poll__duplicate_first_file_wins),
        T(pitr_manifest_dir_poll__skips_dotfiles_other_names_and_links),
        T(pitr_manifest_dir_poll__oversized_file_keeps_last_good),
        T(pitr_manifest_dir_poll__file_count_bounded),
        T(pitr_manifest_dir_new__missing_folder),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
