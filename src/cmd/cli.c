/* cli.c - option parsing, help and dispatch; see cmd/cli.h. */
#include "pgpitr/cmd/cli.h"

#include <stdio.h>
#include <string.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

#ifndef PITR_VERSION
#define PITR_VERSION "0.0.0"
#endif

struct command {
    const char *name;
    pitr_cmd_fn fn;
    const char *usage;
    const char *help;
};

static const struct command commands[] = {
    { "wal-push",
      pitr_cmd_wal_push,
      "wal-push [REPO_URL SERVER] WAL_PATH",
      "Archive one WAL file; use as archive_command = 'pgpitr wal-push %p'.\n"
      "Exit 0 only when the file is durably stored, or an identical copy already is.\n"
      "An archived file with different content is never overwritten (exit 13).\n"
      "REPO_URL and SERVER may be given as positionals, as barman-cloud-wal-archive takes them." },
    { "wal-fetch",
      pitr_cmd_wal_fetch,
      "wal-fetch [REPO_URL SERVER] WAL_NAME DEST_PATH",
      "Restore one WAL file; use as restore_command = 'pgpitr wal-fetch %f %p'.\n"
      "Exit 0 when DEST_PATH was written, 1 when the file is not archived, another\n"
      "non-zero code on any other failure." },
    { "backup",
      pitr_cmd_backup,
      "backup [REPO_URL SERVER] [--pgdata DIR] [--dbname CONNINFO] [--immediate-checkpoint]\n"
      "         [-J N] [--max-archive-size SIZE] [--name NAME] [--wal-wait-timeout SECS] [--json]",
      "Take an online base backup into <server>/base/<backup_id>/ in barman-cloud's layout:\n"
      "data.tar<sfx> (+ data_0001.tar<sfx> ... past --max-archive-size, default 100GB),\n"
      "<oid>.tar<sfx> per tablespace, pgpitr.manifest.json, and backup.info (DONE or FAILED).\n"
      "Reads PGDATA directly (--pgdata, else $PGDATA, else the server's data_directory);\n"
      "connects with the PG* environment variables or --dbname. Compression: --compression\n"
      "gzip (default), zstd, lz4, bzip2 or none, on --jobs/-J threads. DONE only once the\n"
      "end WAL segment is archived (--wal-wait-timeout, default 300 s). --json prints a summary." },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct {
    const char *name;
    const char *env;
    const char *help;
} global_opts[] = {
    { "repo", "PGPITR_REPO", "repository URL: file:///path or s3://bucket[/prefix]" },
    { "server", "PGPITR_SERVER", "server name: the folder under the repository" },
    { "config", "PGPITR_CONFIG", "config file (default " PITR_DEFAULT_CONFIG_FILE ")" },
    { "compression", "PGPITR_COMPRESSION", "gzip (default), none, zstd, lz4, bzip2, xz, snappy" },
    { "endpoint-url", "AWS_ENDPOINT_URL", "S3 endpoint, e.g. https://minio.local:9000" },
    { "region", "AWS_REGION", "S3 region (then AWS_DEFAULT_REGION; default us-east-1)" },
    { "ca-file", "AWS_CA_BUNDLE", "PEM file of CA certificates for TLS verification" },
    { "s3-url-style", "PGPITR_S3_URL_STYLE", "auto (default), path or virtual" },
    { "log-level", "PGPITR_LOG_LEVEL", "error, warn (default), info, debug, trace" },
    { "jobs", "PGPITR_JOBS", "parallel workers (default: CPUs, at least 2)" },
    { "look-ahead",
      "PGPITR_LOOK_AHEAD",
      "wal-push: also push the next N .ready segments (default 8)" },
};

#define N_GLOBAL (sizeof(global_opts) / sizeof(global_opts[0]))

static const struct command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int is_global(const char *name)
{
    size_t i;

    for (i = 0; i < N_GLOBAL; i++)
        if (strcmp(global_opts[i].name, name) == 0)
            return 1;
    return 0;
}

static void print_usage(FILE *f)
{
    size_t i;

    fprintf(f,
            "pgpitr %s - PostgreSQL WAL archiving, backup and point-in-time recovery\n\n",
            PITR_VERSION);
    fprintf(f, "usage: pgpitr [global options] COMMAND [args]\n\ncommands:\n");
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f,
            "  help [COMMAND]\n  version\n\nglobal options (environment variable in brackets):\n");
    for (i = 0; i < N_GLOBAL; i++)
        fprintf(
          f, "  --%-14s %s [%s]\n", global_opts[i].name, global_opts[i].help, global_opts[i].env);
    fprintf(f, "  --version        print the version\n  --help           print this help\n");
    fprintf(f, "\nSettings come from flags, then the environment, then the config file.\n");
}

static int cmd_help(const char *name)
{
    const struct command *c;

    if (name == NULL) {
        print_usage(stdout);
        return PITR_OK;
    }
    c = find_command(name);
    if (c == NULL) {
        fprintf(stderr, "pgpitr: ERROR: unknown command '%s'; see 'pgpitr help'\n", name);
        return PITR_EUSAGE;
    }
    printf("usage: pgpitr [global options] %s\n\n%s\n", c->usage, c->help);
    return PITR_OK;
}

int pitr_cli_main(int argc, char **argv)
{
    struct pitr_config_flag *flags = pitr_calloc((size_t)argc, sizeof(*flags));
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    char(*names)[64] = pitr_calloc((size_t)argc, sizeof(*names)); /* flag names, owned */
    size_t nflags = 0;
    int npos = 0, i, rc = PITR_OK, only_pos = 0;
    const struct command *c;
    struct pitr_config cfg;
    struct pitr_err err = { 0 };

    pitr_config_init(&cfg);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (only_pos || a[0] != '-' || a[1] == '\0') {
            pos[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("pgpitr %s\n", PITR_VERSION);
            goto out;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            rc = cmd_help(npos > 0 ? pos[0] : NULL);
            goto out;
        } else if (a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            char *name = names[nflags];
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

            if (n >= sizeof(names[0]))
                n = sizeof(names[0]) - 1;
            memcpy(name, a + 2, n);
            name[n] = '\0';
            if (!is_global(name)) {
                /* After the command name, the command parses its own options. */
                if (npos > 0) {
                    pos[npos++] = argv[i];
                    continue;
                }
                fprintf(stderr, "pgpitr: ERROR: unknown option '--%s'; see 'pgpitr help'\n", name);
                rc = PITR_EUSAGE;
                goto out;
            }
            if (eq == NULL && i + 1 >= argc) {
                fprintf(stderr, "pgpitr: ERROR: option '--%s' needs a value\n", name);
                rc = PITR_EUSAGE;
                goto out;
            }
            flags[nflags].name = name;
            flags[nflags++].value = eq ? eq + 1 : argv[++i];
        } else if (npos > 0) {
            pos[npos++] = argv[i]; /* a short option of the command */
        } else {
            fprintf(stderr, "pgpitr: ERROR: unknown option '%s'; see 'pgpitr help'\n", a);
            rc = PITR_EUSAGE;
            goto out;
        }
    }
    if (npos == 0) {
        print_usage(stderr);
        rc = PITR_EUSAGE;
        goto out;
    }
    if (strcmp(pos[0], "help") == 0) {
        rc = cmd_help(npos > 1 ? pos[1] : NULL);
        goto out;
    }
    if (strcmp(pos[0], "version") == 0) {
        printf("pgpitr %s\n", PITR_VERSION);
        goto out;
    }
    c = find_command(pos[0]);
    if (c == NULL) {
        fprintf(stderr, "pgpitr: ERROR: unknown command '%s'; see 'pgpitr help'\n", pos[0]);
        rc = PITR_EUSAGE;
        goto out;
    }
    rc = pitr_config_load(&cfg, flags, nflags, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s: %s", c->name, err.msg);
        goto out;
    }
    pitr_log_set_level(cfg.log_level);
    rc = c->fn(&cfg, npos - 1, pos + 1);
out:
    pitr_config_release(&cfg);
    pitr_free(names);
    pitr_free(flags);
    pitr_free(pos);
    return rc;
}
