/*
 * cmd_object.c - object-put, object-get and object-delete: move single
 * repository objects through the streaming storage interface, for operators
 * and benchmarks. Keys are relative to the repository root (no server).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

#define IO_CHUNK ((size_t)1024 * 1024)

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void summary(const char *cmd, const char *key, uint64_t bytes, double t0)
{
    double secs = now_s() - t0;

    pitr_log_info("%s '%s': %llu bytes in %.2f s, %.1f MB/s",
                  cmd,
                  key,
                  (unsigned long long)bytes,
                  secs,
                  secs > 0 ? (double)bytes / 1e6 / secs : 0.0);
}

static int open_storage(const char *cmd, const struct pitr_config *cfg, struct pitr_storage **st)
{
    struct pitr_err err = { 0 };
    pitr_rc rc = pitr_storage_open(cfg, st, &err);

    if (rc != PITR_OK)
        pitr_log_error("%s: %s", cmd, err.msg);
    return rc;
}

static int bad_key(const char *cmd, const char *key)
{
    if (key[0] == '\0' || key[0] == '/') {
        pitr_log_error("%s: invalid key '%s': keys are relative to the repository root", cmd, key);
        return 1;
    }
    return 0;
}

int pitr_cmd_object_put(const struct pitr_config *cfg, int argc, char **argv)
{
    struct pitr_storage *st = NULL;
    struct pitr_storage_writer *w = NULL;
    struct pitr_err err = { 0 };
    const char *key, *src;
    char *buf = NULL;
    uint64_t total = 0;
    double t0;
    int fd = -1, rc;

    if (argc < 1 || argc > 2) {
        pitr_log_error("object-put: expected KEY [FILE|-]; see 'pgpitr help object-put'");
        return PITR_EUSAGE;
    }
    key = argv[0];
    src = argc == 2 ? argv[1] : "-";
    if (bad_key("object-put", key))
        return PITR_EUSAGE;
    if (strcmp(src, "-") == 0) {
        fd = STDIN_FILENO;
    } else {
        fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = pitr_err_set_errno(
              &err, errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO, errno, "cannot open '%s'", src);
            pitr_log_error("object-put '%s': %s", key, err.msg);
            return rc;
        }
    }
    rc = open_storage("object-put", cfg, &st);
    if (rc != PITR_OK)
        goto out;
    t0 = now_s();
    rc = pitr_storage_open_write(st, key, &w, &err);
    if (rc != PITR_OK)
        goto fail;
    buf = pitr_malloc(IO_CHUNK);
    for (;;) {
        ssize_t n = read(fd, buf, IO_CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pitr_err_set_errno(&err, PITR_EIO, errno, "cannot read '%s'", src);
            goto fail;
        }
        if (n == 0)
            break;
        rc = pitr_storage_writer_write(w, buf, (size_t)n, &err);
        if (rc != PITR_OK)
            goto fail;
        total += (uint64_t)n;
    }
    rc = pitr_storage_writer_commit(w, &err);
    w = NULL;
    if (rc != PITR_OK)
        goto fail;
    summary("object-put", key, total, t0);
    goto out;
fail:
    pitr_log_error("object-put '%s': %s", key, err.msg);
out:
    pitr_storage_writer_abort(w);
    pitr_storage_free(st);
    pitr_free(buf);
    if (fd > STDIN_FILENO)
        close(fd);
    return rc;
}

static pitr_rc write_all(int fd, const char *p, size_t n, const char *name, struct pitr_err *err)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return pitr_err_set_errno(err, PITR_EIO, errno, "cannot write '%s'", name);
        p += k;
        n -= (size_t)k;
    }
    return PITR_OK;
}

int pitr_cmd_object_get(const struct pitr_config *cfg, int argc, char **argv)
{
    struct pitr_storage *st = NULL;
    struct pitr_storage_reader *r = NULL;
    struct pitr_err err = { 0 };
    const char *key, *dest;
    char *buf = NULL, *tmp = NULL;
    uint64_t total = 0;
    double t0;
    int fd = -1, rc;

    if (argc < 1 || argc > 2) {
        pitr_log_error("object-get: expected KEY [FILE|-]; see 'pgpitr help object-get'");
        return PITR_EUSAGE;
    }
    key = argv[0];
    dest = argc == 2 ? argv[1] : "-";
    if (bad_key("object-get", key))
        return PITR_EUSAGE;
    rc = open_storage("object-get", cfg, &st);
    if (rc != PITR_OK)
        goto out;
    t0 = now_s();
    rc = pitr_storage_open_read(st, key, 0, PITR_STORAGE_TO_END, &r, &err);
    if (rc != PITR_OK)
        goto fail;
    /* A file is written beside its final name and renamed when complete. */
    if (strcmp(dest, "-") == 0) {
        fd = STDOUT_FILENO;
    } else {
        tmp = pitr_fs_temp_path(dest);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0) {
            rc = pitr_err_set_errno(&err, PITR_EIO, errno, "cannot create '%s'", tmp);
            goto fail;
        }
    }
    buf = pitr_malloc(IO_CHUNK);
    for (;;) {
        size_t got = 0;

        rc = pitr_storage_reader_read(r, buf, IO_CHUNK, &got, &err);
        if (rc != PITR_OK)
            goto fail;
        if (got == 0)
            break;
        rc = write_all(fd, buf, got, tmp ? tmp : "stdout", &err);
        if (rc != PITR_OK)
            goto fail;
        total += got;
    }
    if (tmp != NULL) {
        if (fsync(fd) != 0 || close(fd) != 0) {
            fd = -1;
            rc = pitr_err_set_errno(&err, PITR_EIO, errno, "cannot write '%s'", tmp);
            goto fail;
        }
        fd = -1;
        if (rename(tmp, dest) != 0) {
            rc = pitr_err_set_errno(&err, PITR_EIO, errno, "cannot rename '%s' to '%s'", tmp, dest);
            goto fail;
        }
        pitr_free(tmp);
        tmp = NULL;
    }
    summary("object-get", key, total, t0);
    goto out;
fail:
    pitr_log_error("object-get '%s': %s", key, err.msg);
out:
    if (fd > STDOUT_FILENO)
        close(fd);
    if (tmp != NULL)
        unlink(tmp);
    pitr_free(tmp);
    pitr_free(buf);
    pitr_storage_reader_close(r);
    pitr_storage_free(st);
    return rc;
}

int pitr_cmd_object_delete(const struct pitr_config *cfg, int argc, char **argv)
{
    struct pitr_storage *st = NULL;
    struct pitr_err err = { 0 };
    double t0;
    int i, rc;

    if (argc < 1) {
        pitr_log_error("object-delete: expected KEY...; see 'pgpitr help object-delete'");
        return PITR_EUSAGE;
    }
    for (i = 0; i < argc; i++)
        if (bad_key("object-delete", argv[i]))
            return PITR_EUSAGE;
    rc = open_storage("object-delete", cfg, &st);
    if (rc != PITR_OK)
        return rc;
    t0 = now_s();
    rc = pitr_storage_remove_many(st, (const char *const *)argv, (size_t)argc, &err);
    if (rc != PITR_OK)
        pitr_log_error("object-delete: %s", err.msg);
    else
        pitr_log_info("object-delete: %d keys in %.2f s", argc, now_s() - t0);
    pitr_storage_free(st);
    return rc;
}
