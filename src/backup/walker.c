/* walker.c - PGDATA and tablespace walks; see include/pgpitr/backup/walker.h. */
#include "pgpitr/backup/walker.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"

/* Names left out wherever they are. */
static const char *const excluded_names[] = {
    "postgresql.auto.conf.tmp", "current_logfiles.tmp", "pg_internal.init", "postmaster.pid",
    "postmaster.opts",          "recovery.conf",        "standby.signal",
};

/* Directories kept empty wherever they are. */
static const char *const emptied_dirs[] = {
    "pg_dynshmem", "pg_notify",    "pg_replslot", "pg_serial",
    "pg_stat_tmp", "pg_snapshots", "pg_subtrans",
};

/* Directories of PGDATA's top level kept empty. */
static const char *const emptied_top[] = { "pg_wal", "pg_xlog", "pg_log", "log" };

static int in_list(const char *s, size_t n, const char *const *list, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (strlen(list[i]) == n && strncmp(list[i], s, n) == 0)
            return 1;
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int pitr_walk_excluded(enum pitr_walk_kind kind, const char *relpath)
{
    const char *base = strrchr(relpath, '/');
    const char *parent;
    size_t parent_len;

    base = base ? base + 1 : relpath;
    if (fnmatch("pgsql_tmp*", base, 0) == 0)
        return 1;
    if (in_list(base, strlen(base), excluded_names, COUNT(excluded_names)))
        return 1;
    if (kind == PITR_WALK_PGDATA && strcmp(relpath, "global/pg_control") == 0)
        return 1;
    if (base == relpath)
        return 0; /* top level: no parent to look at */
    /* The name of the directory holding this entry. */
    parent_len = (size_t)(base - 1 - relpath);
    parent = relpath + parent_len;
    while (parent > relpath && parent[-1] != '/')
        parent--;
    if (in_list(parent, (size_t)(relpath + parent_len - parent), emptied_dirs, COUNT(emptied_dirs)))
        return 1;
    if (kind == PITR_WALK_PGDATA) {
        size_t top = strcspn(relpath, "/");

        if (in_list(relpath, top, emptied_top, COUNT(emptied_top)))
            return 1;
    }
    return 0;
}

struct walk {
    const struct pitr_walk_opts *o;
    pitr_walk_fn fn;
    void *ud;
    struct pitr_buf path; /* absolute path of the current entry */
    struct pitr_buf rel;  /* relative path, "" for the root */
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        pitr_free(names[i]);
    pitr_free(names);
}

/* The sorted names in dir (without . and ..); a vanished dir gives none. */
static pitr_rc list_dir(const char *dir, char ***out, size_t *nout, struct pitr_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    *nout = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return PITR_OK;
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open directory '%s'", dir);
    }
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = pitr_realloc(names, cap * sizeof(*names));
        }
        names[n++] = pitr_strdup(de->d_name);
        errno = 0;
    }
    if (errno != 0) {
        int e = errno;

        closedir(d);
        free_names(names, n);
        return pitr_err_set_errno(err, PITR_EIO, e, "cannot read directory '%s'", dir);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    *out = names;
    *nout = n;
    return PITR_OK;
}

static int skipped(const struct walk *w, const char *path)
{
    size_t i;

    for (i = 0; i < w->o->nskip; i++)
        if (strcmp(w->o->skip[i], path) == 0)
            return 1;
    return 0;
}

/* The member name of the current entry (rel), as barman's tar has it. */
static pitr_rc member_name(const struct walk *w,
                           int is_dir,
                           struct pitr_buf *name,
                           struct pitr_err *err)
{
    pitr_buf_reset(name);
    if (w->rel.len == 0)
        return pitr_buf_append_str(name, "./", err);
    /* PGDATA's top-level files are "./NAME"; directories are "NAME/". */
    if (w->o->kind == PITR_WALK_PGDATA && !is_dir && strchr(w->rel.data, '/') == NULL)
        return pitr_buf_appendf(name, err, "./%s", w->rel.data);
    return pitr_buf_appendf(name, err, "%s%s", w->rel.data, is_dir ? "/" : "");
}

static pitr_rc emit(struct walk *w,
                    enum pitr_walk_type type,
                    const struct stat *st,
                    const char *target,
                    struct pitr_err *err)
{
    struct pitr_walk_entry e;
    struct pitr_buf name;
    pitr_rc rc;

    pitr_buf_init(&name, 8192);
    rc = member_name(w, type == PITR_WALK_DIR, &name, err);
    if (rc == PITR_OK) {
        e.type = type;
        e.path = w->path.data;
        e.name = name.data;
        e.target = target;
        e.st = *st;
        rc = w->fn(&e, w->ud, err);
    }
    pitr_buf_release(&name);
    return rc;
}

/* Set path and rel to dir/name; returns the old lengths to restore. */
static pitr_rc push(struct walk *w,
                    const char *name,
                    size_t *plen,
                    size_t *rlen,
                    struct pitr_err *err)
{
    pitr_rc rc;

    *plen = w->path.len;
    *rlen = w->rel.len;
    rc = pitr_buf_appendf(&w->path, err, "/%s", name);
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(&w->rel, err, "%s%s", w->rel.len ? "/" : "", name);
    return rc;
}

static void pop(struct walk *w, size_t plen, size_t rlen)
{
    w->path.len = plen;
    w->path.data[plen] = '\0';
    w->rel.len = rlen;
    w->rel.data[rlen] = '\0';
}

static pitr_rc walk_dir(struct walk *w, const struct stat *dst, int depth, struct pitr_err *err)
{
    char **names = NULL;
    size_t n = 0, i, plen, rlen;
    unsigned char *is_dir = NULL;
    pitr_rc rc;

    rc = list_dir(w->path.data, &names, &n, err);
    if (rc != PITR_OK)
        return rc;
    /* No "./" root entry in a tablespace tar. */
    if (depth > 0 || w->o->kind == PITR_WALK_PGDATA)
        rc = emit(w, PITR_WALK_DIR, dst, NULL, err);
    if (rc != PITR_OK)
        goto out;
    is_dir = pitr_calloc(n + 1, 1);
    /* Files and symlinks first, remembering which names are directories. */
    for (i = 0; i < n; i++) {
        struct stat st;
        int top_filtered = depth == 0 && w->o->kind == PITR_WALK_TABLESPACE &&
                           w->o->tblspc_prefix != NULL &&
                           strncmp(names[i], w->o->tblspc_prefix, strlen(w->o->tblspc_prefix)) != 0;

        if (top_filtered)
            continue;
        rc = push(w, names[i], &plen, &rlen, err);
        if (rc != PITR_OK)
            goto out;
        if (pitr_walk_excluded(w->o->kind, w->rel.data) || skipped(w, w->path.data)) {
            pop(w, plen, rlen);
            continue;
        }
        if (lstat(w->path.data, &st) != 0) {
            int e = errno;

            pop(w, plen, rlen);
            if (e == ENOENT)
                continue;
            rc =
              pitr_err_set_errno(err, PITR_EIO, e, "cannot stat '%s/%s'", w->path.data, names[i]);
            goto out;
        }
        if (S_ISDIR(st.st_mode)) {
            is_dir[i] = 1;
        } else if (S_ISREG(st.st_mode)) {
            rc = emit(w, PITR_WALK_FILE, &st, NULL, err);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t len = readlink(w->path.data, target, sizeof(target) - 1);
            struct stat tst;

            if (len < 0) {
                if (errno != ENOENT)
                    rc = pitr_err_set_errno(
                      err, PITR_EIO, errno, "cannot read symlink '%s'", w->path.data);
            } else {
                target[len] = '\0';
                /* A symlink to a directory is neither stored nor followed. */
                if (stat(w->path.data, &tst) != 0 || !S_ISDIR(tst.st_mode))
                    rc = emit(w, PITR_WALK_SYMLINK, &st, target, err);
            }
        }
        /* Sockets, FIFOs and devices have no place in a backup. */
        pop(w, plen, rlen);
        if (rc != PITR_OK)
            goto out;
    }
    for (i = 0; i < n; i++) {
        struct stat st;

        if (!is_dir[i])
            continue;
        rc = push(w, names[i], &plen, &rlen, err);
        if (rc != PITR_OK)
            goto out;
        if (lstat(w->path.data, &st) == 0 && S_ISDIR(st.st_mode))
            rc = walk_dir(w, &st, depth + 1, err);
        pop(w, plen, rlen);
        if (rc != PITR_OK)
            goto out;
    }
out:
    pitr_free(is_dir);
    free_names(names, n);
    return rc;
}

pitr_rc pitr_walk(const struct pitr_walk_opts *o, pitr_walk_fn fn, void *ud, struct pitr_err *err)
{
    struct walk w;
    struct stat st;
    pitr_rc rc;

    if (stat(o->root, &st) != 0) {
        if (errno == ENOENT)
            return pitr_err_set(err, PITR_ENOTFOUND, "directory '%s' does not exist", o->root);
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot stat '%s'", o->root);
    }
    if (!S_ISDIR(st.st_mode))
        return pitr_err_set(err, PITR_EUSAGE, "'%s' is not a directory", o->root);
    w.o = o;
    w.fn = fn;
    w.ud = ud;
    pitr_buf_init(&w.path, 64 * 1024);
    pitr_buf_init(&w.rel, 64 * 1024);
    rc = pitr_buf_append_str(&w.path, o->root, err);
    /* "/pgdata/" and "/pgdata" walk the same tree with the same paths. */
    while (rc == PITR_OK && w.path.len > 1 && w.path.data[w.path.len - 1] == '/')
        w.path.data[--w.path.len] = '\0';
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(&w.rel, "", err);
    if (rc == PITR_OK)
        rc = walk_dir(&w, &st, 0, err);
    pitr_buf_release(&w.path);
    pitr_buf_release(&w.rel);
    return rc;
}
