/*
 * posix.c - the local-directory repository driver (file:///path).
 *
 * Keys map to files below the root. Writes go to a temp file beside the
 * key (fsync, rename, fsync of the folder), so a crash never leaves a
 * partial object under its real name; temp files are hidden from listings.
 * Streaming writers write such a temp file too: commit fsyncs and renames
 * it, abort unlinks it. remove_many is a loop of unlinks.
 *
 * The repository may hold anything someone put there, so nothing below the
 * root is reached through a symbolic link: every path is walked one
 * component at a time with openat(O_NOFOLLOW) from the root (which the
 * operator chose and may itself be a link), files are opened O_NOFOLLOW,
 * and unlink/rename act on the link itself. A link where a key's folder or
 * file should be is refused (PITR_EFORMAT naming it); listings and cleanup
 * neither report nor enter links (a warning names each). get() refuses a
 * file larger than the caller's buffer takes before reading it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

struct posix_storage {
    struct pitr_storage base;
    char *root; /* owned; absolute, no trailing slash */
};

/* Directories deeper than this below the root are not entered (nor made). */
#define MAX_DEPTH 32

static char *key_path(const struct posix_storage *ps, const char *key)
{
    return pitr_asprintf("%s/%s", ps->root, key);
}

/*
 * Keys come from our own code, but refuse anything that could leave the
 * root or name something else than it seems: "..", empty and "." parts.
 */
static pitr_rc check_key(const char *key, struct pitr_err *err)
{
    const char *p = key;

    if (*key == '\0' || *key == '/' || strstr(key, "..") != NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "invalid storage key '%s'", key);
    while (*p != '\0') {
        size_t n = strcspn(p, "/");

        if (n == 0 || (n == 1 && p[0] == '.') || (p[n] == '/' && p[n + 1] == '\0'))
            return pitr_err_set(err, PITR_EINTERNAL, "invalid storage key '%s'", key);
        p += n;
        if (*p == '/')
            p++;
    }
    return PITR_OK;
}

/* The refusal for a symbolic link found at root/rel (rel: len bytes of a key). */
static pitr_rc refuse_link(const struct posix_storage *ps,
                           const char *rel,
                           size_t len,
                           struct pitr_err *err)
{
    return pitr_err_set(err,
                        PITR_EFORMAT,
                        "'%s/%.*s' is a symbolic link: pgpitr never follows links inside the "
                        "repository it did not make",
                        ps->root,
                        (int)len,
                        rel);
}

/* Open the root folder (the operator chose it: it may itself be a link). */
static int open_root(const struct posix_storage *ps, int create, struct pitr_err *err)
{
    int fd = open(ps->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT && create) {
        if (pitr_fs_mkdir_p(ps->root, 0750, err) != PITR_OK)
            return -1;
        fd = open(ps->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0)
        pitr_err_set_errno(err,
                           errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO,
                           errno,
                           "cannot open the repository folder '%s'",
                           ps->root);
    return fd;
}

/*
 * Open the folder root/rel[0..len) one component at a time, none of them
 * followed if it is a symbolic link (O_NOFOLLOW), making the missing ones
 * when create is set. Returns the folder's descriptor (the caller closes
 * it), or -1 with *err set: PITR_ENOTFOUND for a missing component,
 * PITR_EFORMAT for a symbolic link, PITR_EIO otherwise.
 */
static int open_dir(const struct posix_storage *ps,
                    const char *rel,
                    size_t len,
                    int create,
                    struct pitr_err *err)
{
    int fd = open_root(ps, create, err), next;
    size_t off = 0, depth = 0;
    char name[NAME_MAX + 1];

    while (fd >= 0 && off < len) {
        size_t n = strcspn(rel + off, "/");
        struct stat sb;

        if (n > len - off)
            n = len - off;
        if (n == 0 || n > NAME_MAX || ++depth > MAX_DEPTH) {
            pitr_err_set(err, PITR_EINTERNAL, "invalid repository path '%.*s'", (int)len, rel);
            close(fd);
            return -1;
        }
        memcpy(name, rel + off, n);
        name[n] = '\0';
        next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, name, 0750) != 0 && errno != EEXIST) {
                pitr_err_set_errno(
                  err, PITR_EIO, errno, "cannot create '%s/%.*s'", ps->root, (int)(off + n), rel);
                close(fd);
                return -1;
            }
            next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            int e = errno;

            if ((e == ELOOP || e == ENOTDIR) && fstatat(fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(sb.st_mode))
                refuse_link(ps, rel, off + n, err);
            else
                pitr_err_set_errno(err,
                                   e == ENOENT || e == ENOTDIR ? PITR_ENOTFOUND : PITR_EIO,
                                   e,
                                   "cannot open '%s/%.*s'",
                                   ps->root,
                                   (int)(off + n),
                                   rel);
            close(fd);
            return -1;
        }
        close(fd);
        fd = next;
        off += n;
        if (off < len && rel[off] == '/')
            off++;
    }
    return fd;
}

/* The folder holding key (see open_dir); *base is key's last component. */
static int open_parent(const struct posix_storage *ps,
                       const char *key,
                       int create,
                       const char **base,
                       struct pitr_err *err)
{
    const char *slash = strrchr(key, '/');

    int fd;

    *base = slash ? slash + 1 : key;
    fd = open_dir(ps, key, slash ? (size_t)(slash - key) : 0, create, err);
    /* A missing folder is a missing key: name the key. */
    if (fd < 0 && err->code == PITR_ENOTFOUND)
        pitr_err_set_errno(err, PITR_ENOTFOUND, ENOENT, "cannot open '%s/%s'", ps->root, key);
    return fd;
}

/*
 * Open key's file for reading without following a link, and check that it
 * is a regular file; *size receives its size. -1 with *err set on failure.
 */
static int open_object(const struct posix_storage *ps,
                       const char *key,
                       uint64_t *size,
                       struct pitr_err *err)
{
    const char *base;
    struct stat sb;
    int dfd = open_parent(ps, key, 0, &base, err), fd;

    if (dfd < 0)
        return -1;
    fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;

        if (e == ELOOP)
            refuse_link(ps, key, strlen(key), err);
        else
            pitr_err_set_errno(err,
                               e == ENOENT ? PITR_ENOTFOUND : PITR_EIO,
                               e,
                               "cannot open '%s/%s'",
                               ps->root,
                               key);
        close(dfd);
        return -1;
    }
    close(dfd);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        pitr_err_set(err, PITR_EIO, "'%s/%s' is not a regular file", ps->root, key);
        close(fd);
        return -1;
    }
    *size = (uint64_t)sb.st_size;
    return fd;
}

/* Write all of p[0..n) to fd. */
static pitr_rc write_all(int fd, const char *path, const void *p, size_t n, struct pitr_err *err)
{
    const char *s = p;

    while (n > 0) {
        ssize_t r = write(fd, s, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return pitr_err_set_errno(err, PITR_EIO, errno, "cannot write '%s'", path);
        s += r;
        n -= (size_t)r;
    }
    return PITR_OK;
}

/*
 * A new temp file beside base in folder dfd (never through a link): its
 * name, owned by the caller, in *tmp; the descriptor, or -1 with *err set.
 */
static int create_temp(int dfd,
                       const char *path,
                       const char *base,
                       char **tmp,
                       struct pitr_err *err)
{
    int fd;

    *tmp = pitr_fs_temp_path(base);
    fd = openat(dfd, *tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        pitr_err_set_errno(err, PITR_EIO, errno, "cannot create a temp file for '%s'", path);
    return fd;
}

/* fsync, close and rename temp file tmp (descriptor fd) of folder dfd to base; fsync dfd. */
static pitr_rc publish(int dfd,
                       int fd,
                       const char *tmp,
                       const char *base,
                       const char *path,
                       struct pitr_err *err)
{
    if (fsync(fd) != 0) {
        close(fd);
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot fsync the temp file of '%s'", path);
    }
    if (close(fd) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot close the temp file of '%s'", path);
    /* renameat replaces whatever is at base, a link included, never what it points to. */
    if (renameat(dfd, tmp, dfd, base) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot rename '%s' into place", path);
    if (fsync(dfd) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot fsync the folder of '%s'", path);
    return PITR_OK;
}

static pitr_rc posix_put(struct pitr_storage *st,
                         const char *key,
                         const void *data,
                         size_t len,
                         struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    char *path = NULL, *tmp = NULL;
    const char *base;
    int dfd = -1, fd = -1;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    path = key_path(ps, key);
    dfd = open_parent(ps, key, 1, &base, err);
    if (dfd < 0) {
        rc = err->code;
        goto out;
    }
    fd = create_temp(dfd, path, base, &tmp, err);
    if (fd < 0) {
        rc = err->code;
        goto out;
    }
    rc = write_all(fd, path, data, len, err);
    if (rc == PITR_OK) {
        rc = publish(dfd, fd, tmp, base, path, err);
        fd = -1;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != PITR_OK && tmp != NULL)
        unlinkat(dfd, tmp, 0);
    if (dfd >= 0)
        close(dfd);
    if (rc != PITR_OK)
        pitr_err_prefix(err, "cannot store '%s'", path);
    pitr_free(tmp);
    pitr_free(path);
    return rc;
}

static pitr_rc posix_get(struct pitr_storage *st,
                         const char *key,
                         struct pitr_buf *out,
                         struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    size_t start = out->len, room = out->limit - out->len;
    uint64_t size = 0;
    int fd;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    fd = open_object(ps, key, &size, err);
    if (fd < 0)
        return err->code;
    /* Bigger than the caller can take: refused before reading a byte. */
    if (size > room) {
        close(fd);
        return pitr_err_set(err,
                            PITR_ELIMIT,
                            "'%s/%s' has %llu bytes, more than the %zu allowed",
                            ps->root,
                            key,
                            (unsigned long long)size,
                            room);
    }
    for (;;) {
        ssize_t r;
        size_t want = out->len - start < size ? (size_t)(size - (out->len - start)) : 4096;

        if (want > room - (out->len - start))
            want = room - (out->len - start);
        if (want == 0) {
            /* Grown past its size while being read: at most one byte more to tell. */
            char c;

            r = read(fd, &c, 1);
            if (r > 0)
                rc = pitr_err_set(err,
                                  PITR_ELIMIT,
                                  "'%s/%s' grew past the %zu bytes allowed while being read",
                                  ps->root,
                                  key,
                                  room);
            else if (r < 0 && errno != EINTR)
                rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s/%s'", ps->root, key);
            else if (r < 0)
                continue;
            break;
        }
        rc = pitr_buf_grow(out, want, err);
        if (rc != PITR_OK)
            break;
        r = read(fd, out->data + out->len, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s/%s'", ps->root, key);
            break;
        }
        if (r == 0)
            break;
        pitr_buf_commit(out, (size_t)r);
    }
    close(fd);
    if (rc != PITR_OK) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

static pitr_rc posix_head(struct pitr_storage *st,
                          const char *key,
                          struct pitr_obj_info *info,
                          struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    const char *base;
    struct stat sb;
    int dfd;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    dfd = open_parent(ps, key, 0, &base, err);
    if (dfd < 0)
        return err->code;
    if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        rc = pitr_err_set_errno(err,
                                errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO,
                                errno,
                                "cannot stat '%s/%s'",
                                ps->root,
                                key);
    else if (S_ISLNK(sb.st_mode))
        rc = refuse_link(ps, key, strlen(key), err);
    else if (!S_ISREG(sb.st_mode))
        rc = pitr_err_set(err, PITR_ENOTFOUND, "'%s/%s' is not a regular file", ps->root, key);
    else {
        memset(info, 0, sizeof(*info));
        info->size = (uint64_t)sb.st_size;
    }
    close(dfd);
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
 * Collect every regular file below folder dfd (root/rel) whose key starts
 * with prefix: the keys, or with leases set only the temp files (their
 * "size" is 1 when pitr_fs_temp_is_stale says their writer is gone). Only folders that can hold
 * such keys are entered; symbolic links are neither listed nor entered (a warning names each one).
 */
static pitr_rc walk_files(const struct posix_storage *ps,
                          int dfd,
                          const char *rel,
                          const char *prefix,
                          unsigned depth,
                          int leases,
                          struct key_list *kl,
                          struct pitr_err *err)
{
    int dup_fd = dup(dfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    struct dirent *de;
    size_t plen = strlen(prefix);
    time_t now = time(NULL);
    pitr_rc rc = PITR_OK;

    if (d == NULL) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot list '%s/%s'", ps->root, rel);
        if (dup_fd >= 0)
            close(dup_fd);
        return rc;
    }
    while (rc == PITR_OK && (de = readdir(d)) != NULL) {
        struct stat sb;
        char *key;
        size_t klen;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        key = *rel ? pitr_asprintf("%s/%s", rel, de->d_name) : pitr_strdup(de->d_name);
        klen = strlen(key);
        if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            /* Gone since readdir: not there. */
        } else if (S_ISLNK(sb.st_mode)) {
            if (strncmp(key, prefix, klen < plen ? klen : plen) == 0)
                pitr_log_warn("'%s/%s' is a symbolic link: not listed or followed (pgpitr never "
                              "follows links inside the repository it did not make)",
                              ps->root,
                              key);
        } else if (S_ISDIR(sb.st_mode)) {
            /* Enter only if "key/" could still match prefix, or already does. */
            size_t n = klen < plen ? klen : plen;

            if (strncmp(key, prefix, n) == 0 && (klen >= plen || prefix[klen] == '/')) {
                int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (depth >= MAX_DEPTH)
                    rc = pitr_err_set(err,
                                      PITR_EFORMAT,
                                      "'%s/%s': folders nested deeper than %d levels",
                                      ps->root,
                                      key,
                                      MAX_DEPTH);
                else if (sub < 0 && errno != ENOENT)
                    rc = pitr_err_set_errno(
                      err, PITR_EIO, errno, "cannot open '%s/%s'", ps->root, key);
                else if (sub >= 0)
                    rc = walk_files(ps, sub, key, prefix, depth + 1, leases, kl, err);
                if (sub >= 0)
                    close(sub);
            }
        } else if (S_ISREG(sb.st_mode) && strncmp(key, prefix, plen) == 0 &&
                   pitr_fs_is_temp_name(de->d_name) == leases) {
            key_list_add(kl,
                         key,
                         leases ? (uint64_t)pitr_fs_temp_is_stale(de->d_name, sb.st_mtime, now)
                                : (uint64_t)sb.st_size);
        }
        pitr_free(key);
    }
    closedir(d);
    return rc;
}

/*
 * posix_list and posix_list_leases: walk prefix (leases: the temp files),
 * then hand the keys in order to fn or lfn.
 */
static pitr_rc list_files(struct pitr_storage *st,
                          const char *prefix,
                          int leases,
                          pitr_storage_list_fn fn,
                          pitr_storage_lease_fn lfn,
                          void *ud,
                          struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    struct key_list kl = { 0 };
    size_t i;
    char *start = NULL, *slash;
    int dfd = -1;
    pitr_rc rc;

    /* Start at the deepest folder named by the prefix (not through a link). */
    start = pitr_strdup(prefix);
    slash = strrchr(start, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        start[0] = '\0';
    dfd = open_dir(ps, start, strlen(start), 0, err);
    if (dfd < 0) {
        /* Nothing there is an empty listing; a link there is not followed. */
        rc = err->code;
        if (rc == PITR_EFORMAT)
            pitr_log_warn("%s", err->msg);
        if (rc == PITR_ENOTFOUND || rc == PITR_EFORMAT) {
            pitr_err_clear(err);
            rc = PITR_OK;
        }
        goto out;
    }
    rc = walk_files(ps, dfd, start, prefix, 0, leases, &kl, err);
    if (rc != PITR_OK)
        goto out;
    if (kl.n > 1)
        qsort(kl.items, kl.n, sizeof(*kl.items), cmp_entry);
    for (i = 0; i < kl.n && rc == PITR_OK; i++) {
        struct pitr_obj_info info = { 0 };

        info.size = kl.items[i].size;
        rc = leases ? lfn(kl.items[i].key, info.size != 0, ud, err)
                    : fn(kl.items[i].key, &info, ud, err);
    }
out:
    if (dfd >= 0)
        close(dfd);
    for (i = 0; i < kl.n; i++)
        pitr_free(kl.items[i].key);
    pitr_free(kl.items);
    pitr_free(start);
    return rc;
}

static pitr_rc posix_list(struct pitr_storage *st,
                          const char *prefix,
                          pitr_storage_list_fn fn,
                          void *ud,
                          struct pitr_err *err)
{
    return list_files(st, prefix, 0, fn, NULL, ud, err);
}

/* A writer's temp file is its lease: it names host and pid like S3's leases. */
static pitr_rc posix_list_leases(struct pitr_storage *st,
                                 const char *prefix,
                                 pitr_storage_lease_fn fn,
                                 void *ud,
                                 struct pitr_err *err)
{
    return list_files(st, prefix, 1, NULL, fn, ud, err);
}

static pitr_rc posix_remove(struct pitr_storage *st, const char *key, struct pitr_err *err)
{
    struct posix_storage *ps = (struct posix_storage *)st;
    const char *base;
    int dfd;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    /* Through no link: a key below a linked folder is refused, not removed there. */
    dfd = open_parent(ps, key, 0, &base, err);
    if (dfd < 0) {
        if (err->code != PITR_ENOTFOUND)
            return err->code;
        pitr_err_clear(err);
        return PITR_OK;
    }
    /* unlinkat removes a link itself, never what it points to. */
    if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT)
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot remove '%s/%s'", ps->root, key);
    close(dfd);
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
    char *path;                      /* owned; the final name, for messages */
    char *base_name;                 /* owned; the final name in the folder */
    char *tmp;                       /* owned; the temp file's name in the folder */
    int dfd;                         /* the folder, opened without following links */
    int fd;
};

static void posix_writer_free(struct posix_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->dfd >= 0)
        close(w->dfd);
    pitr_free(w->path);
    pitr_free(w->base_name);
    pitr_free(w->tmp);
    pitr_free(w);
}

static pitr_rc posix_writer_write(struct pitr_storage_writer *base,
                                  const void *p,
                                  size_t n,
                                  struct pitr_err *err)
{
    struct posix_writer *w = (struct posix_writer *)base;

    if (w->fd < 0)
        return pitr_err_set(err, PITR_EINTERNAL, "write to a failed writer of '%s'", w->path);
    return write_all(w->fd, w->path, p, n, err);
}

static void posix_writer_abort(struct pitr_storage_writer *base)
{
    struct posix_writer *w = (struct posix_writer *)base;

    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp != NULL)
        unlinkat(w->dfd, w->tmp, 0);
    posix_writer_free(w);
}

static pitr_rc posix_writer_commit(struct pitr_storage_writer *base, struct pitr_err *err)
{
    struct posix_writer *w = (struct posix_writer *)base;
    pitr_rc rc;
    int fd = w->fd;

    w->fd = -1;
    if (fd < 0)
        rc = pitr_err_set(err, PITR_EINTERNAL, "commit of a failed writer of '%s'", w->path);
    else
        rc = publish(w->dfd, fd, w->tmp, w->base_name, w->path, err);
    if (rc != PITR_OK)
        unlinkat(w->dfd, w->tmp, 0);
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
    const char *base;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    w = pitr_calloc(1, sizeof(*w));
    w->base.ops = &posix_writer_ops;
    w->fd = -1;
    w->path = key_path(ps, key);
    w->dfd = open_parent(ps, key, 1, &base, err);
    if (w->dfd >= 0) {
        w->base_name = pitr_strdup(base);
        w->fd = create_temp(w->dfd, w->path, base, &w->tmp, err);
    }
    if (w->fd < 0) {
        rc = err->code;
        pitr_free(w->tmp);
        w->tmp = NULL;
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
    uint64_t size = 0;
    pitr_rc rc = check_key(key, err);

    if (rc != PITR_OK)
        return rc;
    r = pitr_calloc(1, sizeof(*r));
    r->base.ops = &posix_reader_ops;
    r->path = key_path(ps, key);
    r->fd = open_object(ps, key, &size, err);
    if (r->fd < 0) {
        rc = err->code;
        goto out;
    }
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
 * Remove stale temp files below folder dfd (root/rel), never through a link;
 * at the top only the entries whose name starts with start ("" for all).
 */
static pitr_rc cleanup_dir(const struct posix_storage *ps,
                           int dfd,
                           const char *rel,
                           const char *start,
                           unsigned depth,
                           size_t *removed,
                           struct pitr_err *err)
{
    int dup_fd = dup(dfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    struct dirent *de;
    time_t now = time(NULL);
    size_t start_len = strlen(start);
    pitr_rc rc = PITR_OK;

    if (d == NULL) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot list '%s/%s'", ps->root, rel);
        if (dup_fd >= 0)
            close(dup_fd);
        return rc;
    }
    while (rc == PITR_OK && (de = readdir(d)) != NULL) {
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strncmp(de->d_name, start, start_len) != 0 ||
            fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && depth < MAX_DEPTH) {
            int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            char *sub_rel;

            if (sub < 0)
                continue;
            sub_rel = *rel ? pitr_asprintf("%s/%s", rel, de->d_name) : pitr_strdup(de->d_name);
            rc = cleanup_dir(ps, sub, sub_rel, "", depth + 1, removed, err);
            pitr_free(sub_rel);
            close(sub);
        } else if (S_ISREG(sb.st_mode) && pitr_fs_temp_is_stale(de->d_name, sb.st_mtime, now)) {
            if (unlinkat(dfd, de->d_name, 0) == 0)
                (*removed)++;
            else if (errno != ENOENT)
                rc = pitr_err_set_errno(
                  err, PITR_EIO, errno, "cannot remove '%s/%s/%s'", ps->root, rel, de->d_name);
        }
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
    const char *slash = strrchr(prefix, '/');
    char *rel = pitr_strndup(prefix, slash ? (size_t)(slash - prefix) : strlen(prefix));
    /*
     * A prefix as S3 reads it: "a/b/" is the folder a/b, "a/b/c" the
     * entries of a/b whose name starts with c (the temp files of key
     * a/b/c.gz, say, which wal-push cleans before it writes that key).
     */
    const char *start = slash ? slash + 1 : "";
    int dfd;
    pitr_rc rc = PITR_OK;

    dfd = open_dir(ps, rel, strlen(rel), 0, err);
    if (dfd < 0) {
        rc = err->code;
        if (rc == PITR_ENOTFOUND || rc == PITR_EFORMAT) {
            pitr_err_clear(err);
            rc = PITR_OK;
        }
    } else {
        rc = cleanup_dir(ps, dfd, rel, start, 0, removed, err);
        close(dfd);
    }
    pitr_free(rel);
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
    .list_leases = posix_list_leases,
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
