/*
 * checkarchive.h - may a new cluster start archiving into this server folder?
 *
 * barman-cloud-check-wal-archive's rule (barman 3.4, xlog.check_archive_usable):
 * every key under "<server>/wals/" whose basename, after at most one
 * compression suffix, is a WAL file name (segment, .partial, .backup or
 * .history) counts. Without a timeline any such file makes the archive
 * unusable; with --timeline N only files of timeline N or later do (a new
 * cluster that continues an old one on a later timeline may share the
 * folder). Other keys are ignored, and so are base backups.
 */
#ifndef PGPITR_CATALOG_CHECKARCHIVE_H
#define PGPITR_CATALOG_CHECKARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

struct pitr_storage;

#define PITR_CHECKARCHIVE_NAME_MAX 128

struct pitr_checkarchive {
    uint32_t timeline;                      /* 0: no --timeline, any WAL file offends */
    size_t wal_files;                       /* WAL files seen */
    size_t offending;                       /* of those, the ones that make the archive unusable */
    uint32_t max_tli;                       /* highest timeline among the offending files */
    char first[PITR_CHECKARCHIVE_NAME_MAX]; /* the first offending basename, "" if none */
};

/* Start a check; timeline 0 means "no --timeline". */
void pitr_checkarchive_init(struct pitr_checkarchive *c, uint32_t timeline);

/* Count one key (a basename or a key with '/'; borrowed for the call). */
void pitr_checkarchive_add(struct pitr_checkarchive *c, const char *key);

/* 1 when a new cluster may archive here, 0 otherwise. */
int pitr_checkarchive_usable(const struct pitr_checkarchive *c);

/*
 * List "<server>/wals/" of st (all pages, through catalog/wals.h) and feed
 * every WAL object to c, which the caller initialised (keys in a folder
 * that does not match their name are not WAL there, and are skipped). A missing S3 bucket counts as
 * an empty archive, as barman 3.4 treats it. Listing failures are returned with the prefix named.
 */
PITR_MUST_CHECK pitr_rc pitr_checkarchive_run(struct pitr_storage *st,
                                              const char *server,
                                              struct pitr_checkarchive *c,
                                              struct pitr_err *err);

#endif
