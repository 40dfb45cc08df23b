/*
 * barman.h - pgpitr run under a barman-cloud program's name.
 *
 * When argv[0]'s base name is one of the nine barman-cloud-* programs (a
 * symlink or hard link to pgpitr, see `make install-barman-links`),
 * pgpitr takes that program's command line as barman-cloud 3.4 does
 * (Python argparse rules, its options, positionals and exit codes) and
 * runs the matching pgpitr command: wal-archive -> wal-push, wal-restore
 * -> wal-fetch, backup, restore, backup-list -> list, backup-show ->
 * show, backup-delete -> delete, backup-keep -> keep, check-wal-archive
 * -> check-archive. Options that pgpitr does not implement fail with exit
 * 3 and say so; azure-blob-storage and google-cloud-storage fail with exit
 * 1 as barman does when the provider's library is missing.
 */
#ifndef PGPITR_CMD_BARMAN_H
#define PGPITR_CMD_BARMAN_H

#include <stdint.h>

#include "pgpitr/core/err.h"

/* The barman-cloud program named by path's base name, or NULL. */
const char *pitr_barman_find(const char *path);

/* Run as that program; returns barman's exit status. */
int pitr_barman_main(int argc, char **argv);

/*
 * barman's SIZE syntax (utils.check_size): a positive integer, or a
 * number with K/M/G/T/P/E/Z/Y and "B" (powers of 1024) or "iB" (powers of
 * 1000, barman's inversion), case-insensitive. PITR_EUSAGE otherwise.
 */
PITR_MUST_CHECK pitr_rc pitr_barman_parse_size(const char *s, uint64_t *out, struct pitr_err *err);

#endif
