/*
 * walker.h - walk PGDATA or a tablespace the way barman-cloud-backup does.
 *
 * Order: top-down, a directory's entry, then its files (and symlinks to
 * files), then its subdirectories, each sorted by name. Left out, as barman
 * leaves them out (§1.6 of the format reference) and as PostgreSQL's
 * documentation on base backups asks:
 *   PGDATA only:  the contents of pg_wal, pg_xlog, pg_log and log (the
 *                 directories themselves are kept, empty; this also drops
 *                 our own pg_wal/pgpitr_spool), and global/pg_control (the
 *                 caller adds it last);
 *   everywhere:   pgsql_tmp* (files and directories), postgresql.auto.conf.tmp,
 *                 current_logfiles.tmp, pg_internal.init, postmaster.pid,
 *                 postmaster.opts, recovery.conf, standby.signal, and the
 *                 contents of pg_dynshmem, pg_notify, pg_replslot, pg_serial,
 *                 pg_stat_tmp, pg_snapshots and pg_subtrans;
 *   symlinks to directories (pg_tblspc/<oid>, a symlinked pg_wal): not
 *   stored, not followed; tablespaces are walked on their own.
 * Entries that vanish while we walk (ENOENT) are skipped silently.
 */
#ifndef PGPITR_BACKUP_WALKER_H
#define PGPITR_BACKUP_WALKER_H

#include <sys/stat.h>

#include "pgpitr/core/err.h"

enum pitr_walk_type {
    PITR_WALK_DIR,
    PITR_WALK_FILE,
    PITR_WALK_SYMLINK, /* to a file, or dangling */
};

struct pitr_walk_entry {
    enum pitr_walk_type type;
    const char *path;   /* on disk */
    const char *name;   /* tar member name: "./" for PGDATA's root, "./PG_VERSION", "base/",
                           "base/5/1259"; in a tablespace "PG_15_202209061/5/16385" */
    const char *target; /* symlinks: where it points; else NULL */
    struct stat st;     /* lstat() of path */
};

/* All pointers in the entry are valid for the duration of the call only. */
typedef pitr_rc (*pitr_walk_fn)(const struct pitr_walk_entry *e, void *ud, struct pitr_err *err);

enum pitr_walk_kind {
    PITR_WALK_PGDATA,
    PITR_WALK_TABLESPACE,
};

struct pitr_walk_opts {
    const char *root; /* borrowed; PGDATA or the tablespace location */
    enum pitr_walk_kind kind;
    /*
     * Tablespaces: only the top-level entries whose name starts with this
     * (e.g. "PG_15_") are walked; NULL walks everything.
     */
    const char *tblspc_prefix;
    /* Absolute paths not to walk (tablespace locations inside PGDATA). */
    const char *const *skip;
    size_t nskip;
};

/*
 * Walk o->root and call fn for each entry kept. A callback's error stops
 * the walk and is returned. A root that does not exist or is not a
 * directory fails with PITR_ENOTFOUND / PITR_EUSAGE.
 */
PITR_MUST_CHECK pitr_rc pitr_walk(const struct pitr_walk_opts *o,
                                  pitr_walk_fn fn,
                                  void *ud,
                                  struct pitr_err *err);

/*
 * The exclusion rule alone: true when relpath (relative to the root, no
 * leading "./", no trailing '/') is left out.
 */
int pitr_walk_excluded(enum pitr_walk_kind kind, const char *relpath);

#endif
