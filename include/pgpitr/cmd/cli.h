/*
 * cli.h - the command line: pgpitr [global options] COMMAND [args].
 *
 * Global options may stand before or after the command name. The return
 * value is the process exit status (a pitr_rc value, see core/err.h).
 */
#ifndef PGPITR_CMD_CLI_H
#define PGPITR_CMD_CLI_H

#include "pgpitr/core/config.h"

int pitr_cli_main(int argc, char **argv);

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

#endif
