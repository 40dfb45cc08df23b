/*
 * extract.h - confined extraction of tar volumes under one directory.
 *
 * Everything is written relative to a directory descriptor opened on the
 * root (PGDATA or a tablespace location), one path component at a time with
 * O_NOFOLLOW, so nothing is ever written through a symlink, whoever made it:
 *   - member names must be relative and free of ".." (leading "./" ignored);
 *   - a symlink member must point inside the root: relative, its leading
 *     ".." no deeper than its own folder, none after a name; the links to
 *     tablespaces (pg_tblspc/<oid>) are skipped, restore makes them itself,
 *     and a pg_wal symlink (initdb --waldir) becomes a directory;
 *   - a hardlink member's target is confined the same way and must exist;
 *   - modes keep the permission bits only (never setuid, setgid, sticky);
 *     owners are not restored; devices, FIFOs and sockets are refused.
 * Every refusal is PITR_EFORMAT naming the volume and the member.
 */
#ifndef PGPITR_RESTORE_EXTRACT_H
#define PGPITR_RESTORE_EXTRACT_H

#include "pgpitr/core/err.h"

struct archive;

struct pitr_extract {
    int rootfd;      /* owned */
    char *root;      /* owned; for messages */
    char *cache_dir; /* owned; the folder cache_fd is open on, relative to root */
    int cache_fd;    /* owned; -1 when none */
};

/* Open root (an existing directory; it may itself be reached through symlinks). */
PITR_MUST_CHECK pitr_rc pitr_extract_init(struct pitr_extract *x,
                                          const char *root,
                                          struct pitr_err *err);
void pitr_extract_release(struct pitr_extract *x);

/*
 * Extract every member of a (open for reading) below the root. what names
 * the source (the volume's key) in messages. A libarchive read error is
 * PITR_EFORMAT with libarchive's message.
 */
PITR_MUST_CHECK pitr_rc pitr_extract_archive(struct pitr_extract *x,
                                             struct archive *a,
                                             const char *what,
                                             struct pitr_err *err);

/*
 * A new descriptor (the caller closes it) on folder rel below the root ("" is
 * the root), never through a symlink; with create, missing folders are
 * made (0700).
 */
PITR_MUST_CHECK pitr_rc pitr_extract_open_dir(const struct pitr_extract *x,
                                              const char *rel,
                                              int create,
                                              int *fd,
                                              struct pitr_err *err);

/*
 * 1 when a symlink at member path name (relative, normalised) with target
 * stays below the root: see the rules above.
 */
int pitr_extract_link_inside(const char *name, const char *target);

#endif
