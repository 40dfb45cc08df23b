/*
 * cli.h - the command line: pgpitr [global options] COMMAND [args].
 *
 * Global options may stand before or after the command name. The return
 * value is the process exit status (a pitr_rc value, see core/err.h).
 */
#ifndef PGPITR_CMD_CLI_H
#define PGPITR_CMD_CLI_H

#include <stddef.h>

#include "pgpitr/core/config.h"

int pitr_cli_main(int argc, char **argv);

/*
 * Run command name as pitr_cli_main() does once the global options are
 * parsed: load the configuration from flags (n of them, borrowed), the
 * environment and the config file, set the log level, call the command
 * with its own arguments argv[0..argc). Returns the command's status.
 */
int pitr_cli_run(const char *name,
                 const struct pitr_config_flag *flags,
                 size_t nflags,
                 int argc,
                 char **argv);

/*
 * barman-cloud tag records "KEY,VALUE" (CSV: a field may be "quoted") into
 * our "k=v[,k=v...]" form in *out (owned by the caller; "" for n == 0).
 * PITR_EUSAGE naming the bad record.
 */
PITR_MUST_CHECK pitr_rc pitr_cli_barman_tags(char *const *recs,
                                             int n,
                                             char **out,
                                             struct pitr_err *err);

/*
 * --cloud-provider VALUE: PITR_OK for aws-s3, PITR_ENOTFOUND (barman's exit
 * 1 for a provider whose library is missing) for azure-blob-storage and
 * google-cloud-storage, PITR_EUSAGE for anything else.
 */
PITR_MUST_CHECK pitr_rc pitr_cli_cloud_provider(const char *value, struct pitr_err *err);

/* One subcommand: its positional arguments and the merged configuration. */
typedef int (*pitr_cmd_fn)(const struct pitr_config *cfg, int argc, char **argv);

int pitr_cmd_wal_push(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_wal_fetch(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_object_put(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_object_get(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_object_delete(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_check_archive(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_verify(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_backup(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_restore(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_list(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_show(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_keep(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_delete(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_retention(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_agent(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_get(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_describe(const struct pitr_config *cfg, int argc, char **argv);
int pitr_cmd_wal_receive(const struct pitr_config *cfg, int argc, char **argv);

#endif
