/*
 * posix.c - the local-directory repository driver (file:///path).
 *
 * Keys map to files below the root. Writes go through pitr_fs_write_atomic
 * (temp file, fsync, rename, fsync directory), so a crash never leaves a
 * partial object under its real name; temp files are hidden from listings.
 * Streaming writers write such a temp file themselves: commit fsyncs and
 * renames it, abort unlinks it. remove_many is a loop of unlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

struct posix_storage {
    struct pitr_storage base;
    char *root; /* owned; absolute, no trailing slash */
};

static char *key_path(const struct posix_storage *ps, const char *key)
{
    return pitr_asprintf("%s/%s", ps->root, key);
}

/* Keys come from our own code, but refuse anything that could leave the root. */
static pitr_rc check_key(const char *key, struct pitr_err *err)
{
    if (*key == '\0' || *key == '/' || strstr(key, "..") != NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "invalid storage key '%s'", key);
    return PITR_OK;
}

static pitr_rc posix_put(struct pitr_storage *st,
                         const char *key,
                         const void *data,
                         size_t len,
                         struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    char *path = NULL, *dir = NULL, *slash;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    path = key_path(ps, key);
    dir = pitr_strdup(path);
    slash = strrchr(dir, '/');
    *slash = '\0';
    rc = pitr_fs_mkdir_p(dir, 0750, err);
    if (rc == PITR_OK)
        rc = pitr_fs_write_atomic(path, data, len, 0640, err);
    if (rc != PITR_OK)
        pitr_err_prefix(err, "cannot store '%s'", path);
    pitr_free(dir);
    pitr_free(path);
    return rc;
}

static pitr_rc posix_get(struct pitr_storage *st,
                         const char *key,
                         struct pitr_buf *out,
                         struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    char *path;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    path = key_path(ps, key);
    rc = pitr_fs_read_file(path, out, err);
    pitr_free(path);
    return rc;
}

static pitr_rc posix_head(struct pitr_storage *st,
                          const char *key,
                          struct pitr_obj_info *info,
                          struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    struct stat sb;
    char *path;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    path = key_path(ps, key);
    if (stat(path, &sb) != 0)
        rc = pitr_err_set_errno(
          err, errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO, errno, "cannot stat '%s'", path);
    else if (!S_ISREG(sb.st_mode))
        rc = pitr_err_set(err, PITR_ENOTFOUND, "'%s' is not a regular file", path);
    else {
        memset(info, 0, sizeof(*info));
        info->size = (uint64_t)sb.st_size;
    }
    pitr_free(path);
    return rc;
}

struct key_entry {
    char *key; /* owned */
    uint64_t size;
};

struct key_list {
    struct key_entry *items; /* owned */
    size_t n, cap;
};

static void key_list_add(struct key_list *kl, const char *key, uint64_t size)
{
    if (kl->n == kl->cap) {
        kl->cap = kl->cap ? kl->cap * 2 : 64;
        kl->items = pitr_realloc(kl->items, kl->cap * sizeof(*kl->items));
    }
    kl->items[kl->n].key = pitr_strdup(key);
    kl->items[kl->n++].size = size;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct key_entry *)a)->key, ((const struct key_entry *)b)->key);
}

/*
 * Collect every regular file below root/rel whose key starts with prefix.
 * Only directories that can hold such keys are entered.
 */
static pitr_rc walk(const struct posix_storage *ps,
                    const char *rel,
                    const char *prefix,
                    struct key_list *kl,
                    struct pitr_err *err)
{
    char *dirpath = *rel ? pitr_asprintf("%s/%s", ps->root, rel) : pitr_strdup(ps->root);
    DIR *d = opendir(dirpath);
    struct dirent *de;
    pitr_rc rc = PITR_OK;

    if (d == NULL) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot list '%s'", dirpath);
        pitr_free(dirpath);
        return rc;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        char *key, *path;
        size_t klen, plen = strlen(prefix);

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            pitr_fs_is_temp_name(de->d_name))
            continue;
        key = *rel ? pitr_asprintf("%s/%s", rel, de->d_name) : pitr_strdup(de->d_name);
        path = pitr_asprintf("%s/%s", dirpath, de->d_name);
        klen = strlen(key);
        if (stat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                /* Enter only if "key/" could still match prefix, or already does. */
                size_t n = klen < plen ? klen : plen;

                if (strncmp(key, prefix, n) == 0 && (klen >= plen || prefix[klen] == '/'))
                    rc = walk(ps, key, prefix, kl, err);
            } else if (S_ISREG(sb.st_mode) && strncmp(key, prefix, plen) == 0) {
                key_list_add(kl, key, (uint64_t)sb.st_size);
            }
        }
        pitr_free(path);
        pitr_free(key);
        if (rc != PITR_OK)
            break;
    }
    closedir(d);
    pitr_free(dirpath);
    return rc;
}

static pitr_rc posix_list(struct pitr_storage *st,
                          const char *prefix,
                          pitr_storage_list_fn fn,
                          void *ud,
                          struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    struct key_list kl = { 0 };
    size_t i;
    char *start = NULL, *slash;
    pitr_rc rc;

    /* Start at the deepest directory named by the prefix. */
    start = pitr_strdup(prefix);
    slash = strrchr(start, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        start[0] = '\0';
    rc = walk(ps, start, prefix, &kl, err);
    if (rc != PITR_OK)
        goto out;
    if (kl.n > 1)
        qsort(kl.items, kl.n, sizeof(*kl.items), cmp_entry);
    for (i = 0; i < kl.n && rc == PITR_OK; i++) {
        struct pitr_obj_info info = { 0 };

        info.size = kl.items[i].size;
        rc = fn(kl.items[i].key, &info, ud, err);
    }
out:
    for (i = 0; i < kl.n; i++)
        pitr_free(kl.items[i].key);
    pitr_free(kl.items);
    pitr_free(start);
    return rc;
}

static pitr_rc posix_remove(struct pitr_storage *st, const char *key, struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    char *path;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    path = key_path(ps, key);
    if (unlink(path) != 0 && errno != ENOENT)
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot remove '%s'", path);
    pitr_free(path);
    return rc;
}

static pitr_rc posix_remove_many(struct pitr_storage *st,
                                 const char *const *keys,
                                 size_t n,
                                 struct pitr_err *err)
{
    struct pitr_err e;
    size_t i, failed = 0;
    pitr_rc rc = PITR_OK;

    for (i = 0; i < n; i++) {
        pitr_err_clear(&e);
        if (posix_remove(st, keys[i], &e) == PITR_OK)
            continue;
        if (failed++ == 0) {
            rc = e.code;
            *err = e;
        }
    }
    if (failed > 1)
        pitr_err_prefix(err, "%zu of %zu keys not removed, the first", failed, n);
    return rc;
}

/* ---- streaming writer --------------------------------------------------- */

struct posix_writer {
    struct pitr_storage_writer base; /* first */
    char *path;                      /* owned; the final name */
    char *tmp;                       /* owned; the temp file being written */
    int fd;
};

static void posix_writer_free(struct posix_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    pitr_free(w->path);
    pitr_free(w->tmp);
    pitr_free(w);
}

static pitr_rc posix_writer_write(struct pitr_storage_writer *base,
                                  const void *p,
                                  size_t n,
                                  struct pitr_err *err)
{
    struct posix_writer *w = (struct posix_writer *)base;
    const char *s = p;

    if (w->fd < 0)
        return pitr_err_set(err, PITR_EINTERNAL, "write to a failed writer of '%s'", w->path);
    while (n > 0) {
        ssize_t r = write(w->fd, s, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return pitr_err_set_errno(err, PITR_EIO, errno, "cannot write '%s'", w->tmp);
        s += r;
        n -= (size_t)r;
    }
    return PITR_OK;
}

static void posix_writer_abort(struct pitr_storage_writer *base)
{
    struct posix_writer *w = (struct posix_writer *)base;

    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    unlink(w->tmp);
    posix_writer_free(w);
}

static pitr_rc posix_writer_commit(struct pitr_storage_writer *base, struct pitr_err *err)
{
    struct posix_writer *w = (struct posix_writer *)base;
    char *dir = NULL, *slash;
    pitr_rc rc = PITR_OK;
    int fd = w->fd;

    w->fd = -1;
    if (fd < 0) {
        rc = pitr_err_set(err, PITR_EINTERNAL, "commit of a failed writer of '%s'", w->path);
        goto out;
    }
    if (fsync(fd) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot fsync '%s'", w->tmp);
        close(fd);
        goto out;
    }
    if (close(fd) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot close '%s'", w->tmp);
        goto out;
    }
    if (rename(w->tmp, w->path) != 0) {
        rc =
          pitr_err_set_errno(err, PITR_EIO, errno, "cannot rename '%s' to '%s'", w->tmp, w->path);
        goto out;
    }
    dir = pitr_strdup(w->path);
    slash = strrchr(dir, '/');
    *slash = '\0';
    rc = pitr_fs_fsync_dir(dir, err);
out:
    if (rc != PITR_OK)
        unlink(w->tmp);
    pitr_free(dir);
    posix_writer_free(w);
    return rc;
}

static const struct pitr_storage_writer_ops posix_writer_ops = {
    .write = posix_writer_write,
    .commit = posix_writer_commit,
    .abort = posix_writer_abort,
};

static pitr_rc posix_open_write(struct pitr_storage *st,
                                const char *key,
                                struct pitr_storage_writer **out,
                                struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    struct posix_writer *w;
    char *dir, *slash;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    w = pitr_calloc(1, sizeof(*w));
    w->base.ops = &posix_writer_ops;
    w->fd = -1;
    w->path = key_path(ps, key);
    w->tmp = pitr_fs_temp_path(w->path);
    dir = pitr_strdup(w->path);
    slash = strrchr(dir, '/');
    *slash = '\0';
    rc = pitr_fs_mkdir_p(dir, 0750, err);
    pitr_free(dir);
    if (rc == PITR_OK) {
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (w->fd < 0)
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot create '%s'", w->tmp);
    }
    if (rc != PITR_OK) {
        posix_writer_free(w);
        return rc;
    }
    *out = &w->base;
    return PITR_OK;
}

/* ---- streaming reader --------------------------------------------------- */

struct posix_reader {
    struct pitr_storage_reader base; /* first */
    char *path;                      /* owned */
    int fd;
    uint64_t left; /* bytes still to hand out */
};

static pitr_rc posix_reader_read(struct pitr_storage_reader *base,
                                 void *p,
                                 size_t cap,
                                 size_t *got,
                                 struct pitr_err *err)
{
    struct posix_reader *r = (struct posix_reader *)base;
    size_t n = 0;

    *got = 0;
    if (cap > r->left)
        cap = (size_t)r->left;
    while (n < cap) {
        ssize_t k = read(r->fd, (char *)p + n, cap - n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s'", r->path);
        if (k == 0)
            return pitr_err_set(err, PITR_EIO, "'%s' shrank while being read", r->path);
        n += (size_t)k;
    }
    r->left -= n;
    *got = n;
    return PITR_OK;
}

static void posix_reader_close(struct pitr_storage_reader *base)
{
    struct posix_reader *r = (struct posix_reader *)base;

    if (r->fd >= 0)
        close(r->fd);
    pitr_free(r->path);
    pitr_free(r);
}

static const struct pitr_storage_reader_ops posix_reader_ops = {
    .read = posix_reader_read,
    .close = posix_reader_close,
};

static pitr_rc posix_open_read(struct pitr_storage *st,
                               const char *key,
                               uint64_t offset,
                               uint64_t length,
                               struct pitr_storage_reader **out,
                               struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    struct posix_reader *r;
    struct stat sb;
    uint64_t size;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    r = pitr_calloc(1, sizeof(*r));
    r->base.ops = &posix_reader_ops;
    r->path = key_path(ps, key);
    r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = pitr_err_set_errno(
          err, errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO, errno, "cannot open '%s'", r->path);
        goto out;
    }
    if (fstat(r->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = pitr_err_set(err, PITR_EIO, "'%s' is not a regular file", r->path);
        goto out;
    }
    size = (uint64_t)sb.st_size;
    if (offset > size) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "'%s': offset %llu is past the end (%llu bytes)",
                          r->path,
                          (unsigned long long)offset,
                          (unsigned long long)size);
        goto out;
    }
    if (lseek(r->fd, (off_t)offset, SEEK_SET) < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot seek in '%s'", r->path);
        goto out;
    }
    r->base.object_size = size;
    r->left = length < size - offset ? length : size - offset;
out:
    if (rc != PITR_OK) {
        posix_reader_close(&r->base);
        return rc;
    }
    *out = &r->base;
    return PITR_OK;
}

static void posix_free(struct pitr_storage *st)
{
    struct posix_storage *ps = (struct posix_storage *)st;

    pitr_free(ps->root);
    pitr_free(ps->base.url);
    pitr_free(ps);
}

/*
 * Remove stale temp files below dir (recursively) whose name starts with
 * start ("" for all).
 */
static pitr_rc cleanup_dir(const char *dir,
                           const char *start,
                           size_t *removed,
                           struct pitr_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    time_t now = time(NULL);
    size_t start_len = strlen(start);
    pitr_rc rc = PITR_OK;

    if (d == NULL)
        return errno == ENOENT || errno == ENOTDIR
                 ? PITR_OK
                 : pitr_err_set_errno(err, PITR_EIO, errno, "cannot list '%s'", dir);
    while (rc == PITR_OK && (de = readdir(d)) != NULL) {
        struct stat sb;
        char *path;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strncmp(de->d_name, start, start_len) != 0)
            continue;
        path = pitr_asprintf("%s/%s", dir, de->d_name);
        if (lstat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                rc = cleanup_dir(path, "", removed, err);
            } else if (S_ISREG(sb.st_mode) && pitr_fs_temp_is_stale(de->d_name, sb.st_mtime, now)) {
                if (unlink(path) == 0)
                    (*removed)++;
                else if (errno != ENOENT)
                    rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot remove '%s'", path);
            }
        }
        pitr_free(path);
    }
    closedir(d);
    return rc;
}

static pitr_rc posix_cleanup(struct pitr_storage *st,
                             const char *prefix,
                             size_t *removed,
                             struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    char *dir = pitr_asprintf("%s/%s", ps->root, prefix);
    char *slash = strrchr(dir, '/');
    const char *start = "";
    pitr_rc rc;

    /*
     * A prefix as S3 reads it: "a/b/" is the folder a/b, "a/b/c" the
     * entries of a/b whose name starts with c (the temp files of key
     * a/b/c.gz, say, which wal-push cleans before it writes that key).
     */
    if (slash != NULL && slash > dir + strlen(ps->root)) {
        *slash = '\0';
        start = slash + 1;
    }
    rc = cleanup_dir(dir, start, removed, err);
    pitr_free(dir);
    return rc;
}

static const struct pitr_storage_ops posix_ops = {
    .name = "posix",
    .put = posix_put,
    .get = posix_get,
    .head = posix_head,
    .list = posix_list,
    .remove = posix_remove,
    .remove_many = posix_remove_many,
    .open_write = posix_open_write,
    .open_read = posix_open_read,
    .cleanup = posix_cleanup,
    .free = posix_free,
};

pitr_rc pitr_storage_posix_new(const char *root, struct pitr_storage **out, struct pitr_err *err)
{
    struct posix_storage *ps;
    size_t n = strlen(root);

    if (root[0] != '/')
        return pitr_err_set(err, PITR_EUSAGE, "repository path '%s' is not absolute", root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    ps = pitr_calloc(1, sizeof(*ps));
    ps->base.ops = &posix_ops;
    ps->root = pitr_strndup(root, n);
    ps->base.url = pitr_asprintf("file://%s", ps->root);
    *out = &ps->base;
    return PITR_OK;
}
