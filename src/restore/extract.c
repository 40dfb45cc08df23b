/* extract.c - confined tar extraction; see include/pgpitr/restore/extract.h. */
#include "pgpitr/restore/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

#define NAME_MAX_LEN 4096

/*
 * The normalised form of member name n: leading "./", empty and "."
 * components dropped, no trailing "/". NULL when n is absolute, has a ".."
 * component or a control character, or is too long. Owned by the caller.
 */
static char *normalise(const char *n)
{
    size_t len = strlen(n), o = 0;
    char *out;
    const char *p = n;

    if (n[0] == '/' || len >= NAME_MAX_LEN)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)n[i] < 0x20 || n[i] == 0x7f)
            return NULL;
    out = pitr_malloc(len + 1);
    while (*p != '\0') {
        const char *e = strchr(p, '/');
        size_t c = e ? (size_t)(e - p) : strlen(p);

        if (c == 2 && p[0] == '.' && p[1] == '.') {
            pitr_free(out);
            return NULL;
        }
        if (c > 0 && !(c == 1 && p[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, c);
            o += c;
        }
        p += c;
        if (*p == '/')
            p++;
    }
    out[o] = '\0';
    return out;
}

int pitr_extract_link_inside(const char *name, const char *target)
{
    size_t depth = 0, up = 0;
    int named = 0;
    const char *p = target;

    if (target[0] == '\0' || target[0] == '/')
        return 0;
    for (const char *c = target; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    for (const char *c = name; *c; c++)
        depth += *c == '/';
    while (*p != '\0') {
        const char *e = strchr(p, '/');
        size_t c = e ? (size_t)(e - p) : strlen(p);

        if (c == 2 && p[0] == '.' && p[1] == '.') {
            /* After a name, ".." would climb out of whatever that name resolves to. */
            if (named || ++up > depth)
                return 0;
        } else if (c > 0 && !(c == 1 && p[0] == '.')) {
            named = 1;
        }
        p += c;
        if (*p == '/')
            p++;
    }
    return 1;
}

pitr_rc pitr_extract_init(struct pitr_extract *x, const char *root, struct pitr_err *err)
{
    memset(x, 0, sizeof(*x));
    x->cache_fd = -1;
    x->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x->rootfd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open directory '%s'", root);
    x->root = pitr_strdup(root);
    return PITR_OK;
}

void pitr_extract_release(struct pitr_extract *x)
{
    if (x == NULL)
        return;
    if (x->rootfd >= 0)
        close(x->rootfd);
    if (x->cache_fd >= 0)
        close(x->cache_fd);
    pitr_free(x->root);
    pitr_free(x->cache_dir);
    memset(x, 0, sizeof(*x));
    x->rootfd = x->cache_fd = -1;
}

pitr_rc pitr_extract_open_dir(const struct pitr_extract *x,
                              const char *rel,
                              int create,
                              int *fd,
                              struct pitr_err *err)
{
    char *path = normalise(rel), comp[NAME_MAX_LEN];
    const char *p;
    int cur = -1;
    pitr_rc rc = PITR_OK;

    *fd = -1;
    if (path == NULL)
        return pitr_err_set(err, PITR_EFORMAT, "'%s' is absolute or has a '..' component", rel);
    cur = fcntl(x->rootfd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot open directory '%s'", x->root);
        goto out;
    }
    p = path;
    while (*p != '\0') {
        const char *e = strchr(p, '/');
        size_t c = e ? (size_t)(e - p) : strlen(p);
        int next;

        memcpy(comp, p, c);
        comp[c] = '\0';
        next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, comp, 0700) != 0 && errno != EEXIST) {
                rc = pitr_err_set_errno(
                  err, PITR_EIO, errno, "cannot create directory '%s/%s'", x->root, path);
                goto out;
            }
            next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            if (errno == ELOOP || errno == ENOTDIR)
                rc = pitr_err_set(err,
                                  PITR_EFORMAT,
                                  "'%.*s' in '%s' is a symlink or not a directory; refusing to "
                                  "go through it",
                                  (int)((size_t)(p - path) + c),
                                  path,
                                  x->root);
            else
                rc = pitr_err_set_errno(
                  err, PITR_EIO, errno, "cannot open directory '%s/%s'", x->root, path);
            goto out;
        }
        close(cur);
        cur = next;
        p += c;
        if (*p == '/')
            p++;
    }
    *fd = cur;
    cur = -1;
out:
    if (cur >= 0)
        close(cur);
    pitr_free(path);
    return rc;
}

/* The (cached) folder dir below the root, created when missing; borrowed. */
static pitr_rc parent_dir(struct pitr_extract *x, const char *dir, int *fd, struct pitr_err *err)
{
    pitr_rc rc;

    if (x->cache_fd >= 0 && strcmp(x->cache_dir, dir) == 0) {
        *fd = x->cache_fd;
        return PITR_OK;
    }
    if (x->cache_fd >= 0)
        close(x->cache_fd);
    pitr_free(x->cache_dir);
    x->cache_dir = NULL;
    x->cache_fd = -1;
    rc = pitr_extract_open_dir(x, dir, 1, fd, err);
    if (rc != PITR_OK)
        return rc;
    x->cache_fd = *fd;
    x->cache_dir = pitr_strdup(dir);
    return PITR_OK;
}

/* Split normalised name into its folder (dir, "" for the root) and last component (*base). */
static char *split(const char *name, const char **base)
{
    const char *s = strrchr(name, '/');
    char *dir;

    if (s == NULL) {
        *base = name;
        return pitr_strdup("");
    }
    *base = s + 1;
    dir = pitr_malloc((size_t)(s - name) + 1);
    memcpy(dir, name, (size_t)(s - name));
    dir[s - name] = '\0';
    return dir;
}

/* Make room for a new entry base in dfd: remove what is there unless it is a directory. */
static pitr_rc clear_slot(int dfd, const char *base, const char *name, struct pitr_err *err)
{
    struct stat st;

    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? PITR_OK
                               : pitr_err_set_errno(err, PITR_EIO, errno, "cannot stat '%s'", name);
    if (S_ISDIR(st.st_mode))
        return pitr_err_set(
          err, PITR_EFORMAT, "'%s' is a directory already; the volume replaces it", name);
    if (unlinkat(dfd, base, 0) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot remove '%s'", name);
    return PITR_OK;
}

static pitr_rc write_file(struct archive *a,
                          struct archive_entry *ae,
                          int dfd,
                          const char *base,
                          const char *name,
                          struct pitr_err *err)
{
    const void *blk;
    size_t sz;
    la_int64_t off;
    struct timespec ts[2];
    pitr_rc rc;
    int fd, r;

    rc = clear_slot(dfd, base, name, err);
    if (rc != PITR_OK)
        return rc;
    fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot create '%s'", name);
    while ((r = archive_read_data_block(a, &blk, &sz, &off)) == ARCHIVE_OK) {
        const char *b = blk;

        while (sz > 0) {
            ssize_t w = pwrite(fd, b, sz, (off_t)off);

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot write '%s'", name);
                goto out;
            }
            b += w;
            sz -= (size_t)w;
            off += w;
        }
    }
    if (r != ARCHIVE_EOF) {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "cannot read member '%s': %s",
                          name,
                          archive_error_string(a) ? archive_error_string(a) : "unknown error");
        goto out;
    }
    /* A sparse member ends in a hole. */
    if (archive_entry_size_is_set(ae) && ftruncate(fd, (off_t)archive_entry_size(ae)) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot size '%s'", name);
        goto out;
    }
    /* Permission bits only: never setuid, setgid or sticky from a backup. */
    if (fchmod(fd, archive_entry_perm(ae) & 0777) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot chmod '%s'", name);
        goto out;
    }
    ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(ae);
    ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(ae);
    (void)futimens(fd, ts);
out:
    close(fd);
    return rc;
}

static pitr_rc make_dir(int dfd, const char *base, const char *name, int mode, struct pitr_err *err)
{
    int fd;

    if (mkdirat(dfd, base, 0700) != 0 && errno != EEXIST)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot create directory '%s'", name);
    fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP || errno == ENOTDIR
                 ? pitr_err_set(err, PITR_EFORMAT, "'%s' exists and is not a directory", name)
                 : pitr_err_set_errno(err, PITR_EIO, errno, "cannot open directory '%s'", name);
    /* The owner keeps rwx so the folder's later members can be written. */
    if (fchmod(fd, (mode & 0777) | 0700) != 0) {
        close(fd);
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot chmod '%s'", name);
    }
    close(fd);
    return PITR_OK;
}

static int is_tblspc_link(const char *name)
{
    const char *p = name + strlen("pg_tblspc/");

    if (strncmp(name, "pg_tblspc/", strlen("pg_tblspc/")) != 0 || *p == '\0')
        return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

static pitr_rc make_link(struct pitr_extract *x,
                         struct archive_entry *ae,
                         int dfd,
                         const char *base,
                         const char *name,
                         struct pitr_err *err)
{
    const char *target = archive_entry_symlink(ae);
    pitr_rc rc;

    if (target == NULL)
        target = "";
    if (is_tblspc_link(name)) {
        pitr_log_debug(
          "restore: '%s' -> '%s' skipped: restore links the tablespaces itself", name, target);
        return PITR_OK;
    }
    if (strcmp(name, "pg_wal") == 0) {
        pitr_log_info("restore: pg_wal was a symlink to '%s' (initdb --waldir); restored as a "
                      "directory in '%s'",
                      target,
                      x->root);
        return make_dir(dfd, base, name, 0700, err);
    }
    if (!pitr_extract_link_inside(name, target))
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "symlink member '%s' points to '%s', which is absolute or outside "
                            "the target; refusing it",
                            name,
                            target);
    rc = clear_slot(dfd, base, name, err);
    if (rc == PITR_OK && symlinkat(target, dfd, base) != 0)
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot create symlink '%s'", name);
    return rc;
}

static pitr_rc make_hardlink(struct pitr_extract *x,
                             const char *link,
                             int dfd,
                             const char *base,
                             const char *name,
                             struct pitr_err *err)
{
    char *target = normalise(link), *tdir = NULL;
    const char *tbase;
    int tfd = -1;
    pitr_rc rc;

    if (target == NULL || target[0] == '\0') {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "hardlink member '%s' links to '%s', which is absolute or outside the "
                          "target; refusing it",
                          name,
                          link);
        goto out;
    }
    tdir = split(target, &tbase);
    rc = pitr_extract_open_dir(x, tdir, 0, &tfd, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "hardlink member '%s' to '%s'", name, link);
        goto out;
    }
    rc = clear_slot(dfd, base, name, err);
    if (rc == PITR_OK && linkat(tfd, tbase, dfd, base, 0) != 0)
        rc = pitr_err_set_errno(
          err, PITR_EIO, errno, "cannot link hardlink member '%s' to '%s'", name, link);
out:
    if (tfd >= 0)
        close(tfd);
    pitr_free(target);
    pitr_free(tdir);
    return rc;
}

/* One member; its data is read here for a regular file. */
static pitr_rc extract_entry(struct pitr_extract *x,
                             struct archive *a,
                             struct archive_entry *ae,
                             struct pitr_err *err)
{
    const char *raw = archive_entry_pathname(ae), *base, *hard = archive_entry_hardlink(ae);
    char *name = normalise(raw ? raw : ""), *dir = NULL;
    mode_t type = archive_entry_filetype(ae);
    int dfd;
    pitr_rc rc;

    if (name == NULL)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "member '%s' has an absolute path, a '..' component or a control "
                            "character; refusing it",
                            raw);
    if (name[0] == '\0') {
        pitr_free(name);
        if (type == AE_IFDIR && hard == NULL)
            return PITR_OK; /* the root itself: restore set its mode */
        return pitr_err_set(err, PITR_EFORMAT, "member '%s' names the target itself", raw);
    }
    dir = split(name, &base);
    rc = parent_dir(x, dir, &dfd, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "member '%s'", name);
        goto out;
    }
    if (hard != NULL)
        rc = make_hardlink(x, hard, dfd, base, name, err);
    else if (type == AE_IFREG) {
        rc = write_file(a, ae, dfd, base, name, err);
        /* ENOSPC and friends: the operator wants the full path of the file. */
        if (rc == PITR_EIO)
            pitr_err_prefix(err, "in '%s/'", x->root);
    } else if (type == AE_IFDIR)
        rc = make_dir(dfd, base, name, (int)archive_entry_perm(ae), err);
    else if (type == AE_IFLNK)
        rc = make_link(x, ae, dfd, base, name, err);
    else
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "member '%s' is a device, FIFO or socket (type 0%o); refusing it",
                          name,
                          (unsigned)type);
out:
    pitr_free(name);
    pitr_free(dir);
    return rc;
}

pitr_rc pitr_extract_archive(struct pitr_extract *x,
                             struct archive *a,
                             const char *what,
                             struct pitr_err *err)
{
    struct archive_entry *ae;
    pitr_rc rc = PITR_OK;
    int r;

    for (;;) {
        r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return pitr_err_set(err,
                                PITR_EFORMAT,
                                "volume '%s' is corrupt or not a tar archive: %s",
                                what,
                                archive_error_string(a) ? archive_error_string(a)
                                                        : "unknown error");
        rc = extract_entry(x, a, ae, err);
        if (rc != PITR_OK)
            return pitr_err_prefix(err, "volume '%s' into '%s'", what, x->root);
    }
    return PITR_OK;
}
