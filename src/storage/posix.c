/*
 * posix.c - the local-directory repository driver (file:///path).
 *
 * Keys map to files below the root. Writes go through pitr_fs_write_atomic
 * (temp file, fsync, rename, fsync directory), so a crash never leaves a
 * partial object under its real name; temp files are hidden from listings.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void posix_free(struct pitr_storage *st)
{
    struct posix_storage *ps = (struct posix_storage *)st;

    pitr_free(ps->root);
    pitr_free(ps->base.url);
    pitr_free(ps);
}

static const struct pitr_storage_ops posix_ops = {
    .name = "posix",
    .put = posix_put,
    .get = posix_get,
    .head = posix_head,
    .list = posix_list,
    .remove = posix_remove,
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
