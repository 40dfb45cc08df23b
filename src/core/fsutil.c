/* fsutil.c - atomic and durable file operations; see core/fsutil.h. */
#include "pgpitr/core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgpitr/core/mem.h"

#define TEMP_MARK ".pitr-tmp."

static atomic_uint temp_counter;

int pitr_fs_is_temp_name(const char *name)
{
    return strstr(name, TEMP_MARK) != NULL;
}

size_t pitr_fs_temp_base_len(const char *name)
{
    const char *mark = strstr(name, TEMP_MARK);

    return mark == NULL ? 0 : (size_t)(mark - name);
}

/* The host name goes into temp names so a cleanup never judges another host's writer. */
static void host_name(char *out, size_t n)
{
    size_t i;

    if (gethostname(out, n) != 0)
        snprintf(out, n, "localhost");
    out[n - 1] = '\0';
    for (i = 0; out[i] != '\0'; i++)
        if (out[i] == '/')
            out[i] = '_';
}

char *pitr_fs_temp_path(const char *path)
{
    char host[128];

    host_name(host, sizeof(host));
    return pitr_asprintf(
      "%s" TEMP_MARK "%s.%ld.%u", path, host, (long)getpid(), atomic_fetch_add(&temp_counter, 1));
}

int pitr_fs_temp_is_stale(const char *name, time_t mtime, time_t now)
{
    const char *mark = strstr(name, TEMP_MARK), *host, *end, *dot;
    char ours[128];
    long pid;
    char *stop;

    if (mark == NULL)
        return 0;
    if (now - mtime > PITR_FS_TEMP_MAX_AGE)
        return 1;
    /* "<host>.<pid>.<n>": the host may hold dots, so parse from the right. */
    host = mark + strlen(TEMP_MARK);
    end = strrchr(host, '.');
    if (end == NULL || end == host)
        return 0;
    for (dot = end - 1; dot > host && *dot != '.'; dot--)
        continue;
    if (dot <= host)
        return 0;
    pid = strtol(dot + 1, &stop, 10);
    if (stop != end || pid <= 0)
        return 0;
    host_name(ours, sizeof(ours));
    if ((size_t)(dot - host) != strlen(ours) || strncmp(host, ours, (size_t)(dot - host)) != 0)
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

pitr_rc pitr_fs_fsync_dir(const char *path, struct pitr_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open directory '%s'", path);
    if (fsync(fd) != 0) {
        int e = errno;

        close(fd);
        return pitr_err_set_errno(err, PITR_EIO, e, "cannot fsync directory '%s'", path);
    }
    close(fd);
    return PITR_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return pitr_strdup(".");
    if (slash == path)
        return pitr_strdup("/");
    return pitr_strndup(path, (size_t)(slash - path));
}

pitr_rc pitr_fs_write_atomic(const char *path,
                             const void *data,
                             size_t len,
                             int mode,
                             struct pitr_err *err)
{
    char *tmp = NULL, *dir = NULL;
    const char *p = data;
    int fd = -1;
    pitr_rc rc = PITR_OK;

    tmp = pitr_fs_temp_path(path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot create '%s'", tmp);
        pitr_free(tmp);
        return rc;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot write '%s'", tmp);
            goto out;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot fsync '%s'", tmp);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot close '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot rename '%s' to '%s'", tmp, path);
        goto out;
    }
    dir = dir_of(path);
    rc = pitr_fs_fsync_dir(dir, err);
out:
    if (fd >= 0)
        close(fd);
    if (rc != PITR_OK)
        unlink(tmp);
    pitr_free(tmp);
    pitr_free(dir);
    return rc;
}

pitr_rc pitr_fs_read_file(const char *path, struct pitr_buf *out, struct pitr_err *err)
{
    struct stat st;
    int fd;
    pitr_rc rc = PITR_OK;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pitr_err_set_errno(
          err, errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO, errno, "cannot open '%s'", path);
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = pitr_err_set(err, PITR_EIO, "cannot read '%s': is a directory", path);
        goto out;
    }
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        rc = pitr_buf_grow(out, (size_t)st.st_size, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "cannot read '%s'", path);
            goto out;
        }
    }
    for (;;) {
        ssize_t n;

        rc = pitr_buf_grow(out, 65536 < out->limit - out->len ? 65536 : out->limit - out->len, err);
        if (rc != PITR_OK)
            goto out;
        if (out->cap - out->len - 1 == 0) {
            /* At the limit: one more byte means the file is too large. */
            char probe;

            n = read(fd, &probe, 1);
            if (n > 0)
                rc =
                  pitr_err_set(err, PITR_ELIMIT, "'%s' is larger than %zu bytes", path, out->limit);
            goto out;
        }
        n = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        pitr_buf_commit(out, (size_t)n);
    }
out:
    close(fd);
    return rc;
}

pitr_rc pitr_fs_mkdir_p(const char *path, int mode, struct pitr_err *err)
{
    char *p = pitr_strdup(path);
    char *s;
    pitr_rc rc = PITR_OK;

    for (s = *p != '\0' ? p + 1 : p;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        {
            char c = *s;
            struct stat sb;

            *s = '\0';
            if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
                rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot create directory '%s'", p);
                goto out;
            }
            /* EEXIST is fine only for a directory (or a link to one). */
            if (*p != '\0' && (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
                rc = pitr_err_set_errno(
                  err, PITR_EIO, ENOTDIR, "cannot create directory '%s' (at '%s')", path, p);
                goto out;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
out:
    pitr_free(p);
    return rc;
}
