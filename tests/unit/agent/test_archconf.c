/*
 * test_archconf.c - unit tests for src/agent/archconf.c: the archive and
 * restore commands (shell quoting and '%' doubling, run through /bin/sh),
 * the settings file text (read back by the config parser; hostile Secret
 * values with newlines refused without echoing them), the ALTER/reload/
 * restart decision per setting, CloudNativePG's pg_stat_archiver rule, and
 * what the leader writes when the server cannot be reached, the settings are
 * missing, or a second Cluster claims the same server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/agent/archconf.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/agent/status.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/mem.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/pitr-archconf-XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    pitr_test_rm_rf(root);
    return 0;
}

/* PostgreSQL's substitution: %% -> %, %p -> path, %f -> name. */
static void substitute(const char *cmd, char *out, size_t n)
{
    size_t o = 0;

    for (; *cmd != '\0' && o + 16 < n; cmd++) {
        if (cmd[0] == '%' && cmd[1] == '%') {
            out[o++] = '%';
            cmd++;
        } else if (cmd[0] == '%' && cmd[1] == 'p') {
            o += (size_t)snprintf(out + o, n - o, "pg_wal/X");
            cmd++;
        } else if (cmd[0] == '%' && cmd[1] == 'f') {
            o += (size_t)snprintf(out + o, n - o, "X");
            cmd++;
        } else {
            out[o++] = *cmd;
        }
    }
    out[o] = '\0';
}

static void archconf_command__quotes_paths_and_doubles_percent(void **state)
{
    struct pitr_buf b;
    struct pitr_err err = { 0 };
    char line[512], cmd[512];
    FILE *p;

    (void)state;
    pitr_buf_init(&b, 4096);
    assert_int_equal(
      pitr_archconf_command("/usr/bin/pgpitr", "/var/a.conf", "wal-push %p", &b, &err), PITR_OK);
    assert_string_equal(b.data, "'/usr/bin/pgpitr' --config '/var/a.conf' wal-push %p");
    pitr_buf_reset(&b);
    assert_int_equal(
      pitr_archconf_command("/bin/echo", "/tmp/a b'c%d;$(x)", "wal-fetch %f %p", &b, &err),
      PITR_OK);
    assert_string_equal(b.data, "'/bin/echo' --config '/tmp/a b'\\''c%%d;$(x)' wal-fetch %f %p");
    /* what /bin/sh makes of it once PostgreSQL substituted %% and %p */
    substitute(b.data, cmd, sizeof(cmd));
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    assert_string_equal(line, "--config /tmp/a b'c%d;$(x) wal-fetch X pg_wal/X\n");
    pitr_buf_release(&b);
}

static void archconf_command__control_character_refused(void **state)
{
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&b, 4096);
    assert_int_equal(
      pitr_archconf_command("/usr/bin/pgpitr", "/var/a\n.conf", "wal-push %p", &b, &err),
      PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "control character"));
    pitr_buf_release(&b);
}

static void base_cfg(struct pitr_config *cfg)
{
    struct pitr_err err = { 0 };

    pitr_config_init(cfg);
    assert_int_equal(pitr_config_set(cfg, "repo", "s3://bucket/prefix", &err), PITR_OK);
    assert_int_equal(pitr_config_set(cfg, "server", "pg-a", &err), PITR_OK);
    assert_int_equal(pitr_config_set(cfg, "endpoint-url", "http://127.0.0.1:9000", &err), PITR_OK);
    assert_int_equal(pitr_config_set(cfg, "region", "eu-west-1", &err), PITR_OK);
    assert_int_equal(pitr_config_set(cfg, "compression", "bzip2", &err), PITR_OK); /* data */
    assert_int_equal(pitr_config_set(cfg, "aws-access-key-id", "AKID", &err), PITR_OK);
    assert_int_equal(pitr_config_set(cfg, "aws-secret-access-key", "s3cr=t/+x", &err), PITR_OK);
    assert_int_equal(pitr_config_set(cfg, "s3-url-style", "path", &err), PITR_OK);
}

static void archconf_config_text__read_back_by_the_config_parser(void **state)
{
    struct pitr_config cfg, back;
    struct pitr_mf_store st;
    struct pitr_buf b;
    struct pitr_err err = { 0 };
    struct pitr_config_flag flag;
    char path[128];
    FILE *f;

    (void)state;
    base_cfg(&cfg);
    memset(&st, 0, sizeof(st));
    st.wal_compression = pitr_strdup("gzip");
    st.wal_max_parallel = 4;
    pitr_buf_init(&b, PITR_ARCHCONF_FILE_MAX);
    assert_int_equal(pitr_archconf_config_text(&cfg, &st, "/state/ca.pem", &b, &err), PITR_OK);
    assert_non_null(strstr(b.data, "\ncompression = gzip\n")); /* wal.compression, not data's */
    assert_non_null(strstr(b.data, "\nlook-ahead = 3\n"));
    assert_non_null(strstr(b.data, "\nprefetch = 3\n"));
    snprintf(path, sizeof(path), "%s/a.conf", root);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
    fclose(f);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_CA_BUNDLE");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("PGPITR_COMPRESSION");
    flag.name = "config";
    flag.value = path;
    pitr_config_init(&back);
    assert_int_equal(pitr_config_load(&back, &flag, 1, &err), PITR_OK);
    assert_string_equal(back.repo, "s3://bucket/prefix");
    assert_string_equal(back.server, "pg-a");
    assert_string_equal(back.endpoint_url, "http://127.0.0.1:9000");
    assert_string_equal(back.region, "eu-west-1");
    assert_string_equal(back.ca_file, "/state/ca.pem");
    assert_string_equal(back.compression, "gzip");
    assert_string_equal(back.access_key, "AKID");
    assert_string_equal(back.secret_key, "s3cr=t/+x");
    assert_int_equal(back.url_style, PITR_URL_STYLE_PATH);
    assert_int_equal(back.look_ahead, 3);
    assert_int_equal(back.prefetch, 3);
    pitr_config_release(&back);
    pitr_config_release(&cfg);
    pitr_free(st.wal_compression);
    pitr_buf_release_secure(&b);
}

static void archconf_config_text__no_wal_compression_means_none(void **state)
{
    struct pitr_config cfg;
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    (void)state;
    base_cfg(&cfg);
    pitr_buf_init(&b, PITR_ARCHCONF_FILE_MAX);
    assert_int_equal(pitr_archconf_config_text(&cfg, NULL, NULL, &b, &err), PITR_OK);
    assert_non_null(strstr(b.data, "\ncompression = none\n"));
    assert_null(strstr(b.data, "ca-file"));
    assert_null(strstr(b.data, "look-ahead"));
    pitr_config_release(&cfg);
    pitr_buf_release_secure(&b);
}

static void archconf_config_text__newline_in_a_secret_is_refused_unechoed(void **state)
{
    struct pitr_config cfg;
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    (void)state;
    base_cfg(&cfg);
    pitr_free(cfg.secret_key);
    cfg.secret_key = pitr_strdup("abc\nrepo = file:///evil");
    pitr_buf_init(&b, PITR_ARCHCONF_FILE_MAX);
    assert_int_equal(pitr_archconf_config_text(&cfg, NULL, NULL, &b, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "aws-secret-access-key"));
    assert_null(strstr(err.msg, "evil"));
    assert_null(strstr(err.msg, "abc"));
    pitr_free(cfg.secret_key);
    cfg.secret_key = pitr_strdup(" padded");
    pitr_buf_reset(&b);
    assert_int_equal(pitr_archconf_config_text(&cfg, NULL, NULL, &b, &err), PITR_EUSAGE);
    assert_null(strstr(err.msg, "padded"));
    pitr_config_release(&cfg);
    pitr_buf_release_secure(&b);
}

static void archconf_guc_action__table(void **state)
{
    static const struct {
        const char *name, *want, *setting, *file;
        int postmaster, act;
    } rows[] = {
        /* archive_mode off, nothing in the files: ALTER, then only a restart applies it */
        { "archive_mode", "on", "off", NULL, 1, PITR_ARCHCONF_ALTER | PITR_ARCHCONF_RESTART },
        /* already altered, not restarted: no second ALTER */
        { "archive_mode", "on", "off", "on", 1, PITR_ARCHCONF_RESTART },
        { "archive_mode", "on", "on", "on", 1, 0 },
        { "archive_mode", "on", "always", "always", 1, 0 },
        { "archive_mode", "on", "on", NULL, 1, 0 }, /* set on the command line */
        { "archive_mode", "on", "on", "off", 1, PITR_ARCHCONF_ALTER },
        { "archive_command", "X", "", NULL, 0, PITR_ARCHCONF_ALTER | PITR_ARCHCONF_RELOAD },
        { "archive_command", "X", "Y", "X", 0, PITR_ARCHCONF_RELOAD }, /* altered, not reloaded */
        { "archive_command", "X", "X", "X", 0, 0 },
        { "archive_command", "X", "X", "Y", 0, PITR_ARCHCONF_ALTER },
        { "restore_command", "R", "", "", 0, PITR_ARCHCONF_ALTER | PITR_ARCHCONF_RELOAD },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int got = pitr_archconf_guc_action(
          rows[i].name, rows[i].want, rows[i].setting, rows[i].file, rows[i].postmaster);

        if (got != rows[i].act)
            fail_msg("row %zu (%s): got %d, want %d", i, rows[i].name, got, rows[i].act);
    }
}

static void archconf_archiving_ok__cnpg_rule(void **state)
{
    struct pitr_archconf_stats s;
    char msg[512];

    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(pitr_archconf_archiving_ok(&s, msg, sizeof(msg)), 1); /* nothing failed */
    assert_string_equal(msg, "Continuous archiving is working");
    s.last_archived_time = 1000;
    s.last_failed_time = 1000;
    assert_int_equal(pitr_archconf_archiving_ok(&s, msg, sizeof(msg)), 1); /* not older */
    s.last_failed_time = 1001;
    s.failed_count = 3;
    snprintf(s.last_failed_wal, sizeof(s.last_failed_wal), "000000010000000000000007");
    snprintf(s.last_archived_wal, sizeof(s.last_archived_wal), "000000010000000000000006");
    assert_int_equal(pitr_archconf_archiving_ok(&s, msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "archiving WAL 000000010000000000000007 failed at"));
    assert_non_null(strstr(msg, "the last WAL archived is 000000010000000000000006"));
    s.last_archived_time = 0; /* never archived, failed once */
    assert_int_equal(pitr_archconf_archiving_ok(&s, msg, sizeof(msg)), 0);
}

static const char *cond_reason(json_t *st)
{
    json_t *c = json_object_get(st, "conditions");
    size_t i;

    for (i = 0; i < json_array_size(c); i++)
        if (strcmp(pitr_status_str(json_array_get(c, i), "type"), "ContinuousArchiving") == 0)
            return pitr_status_str(json_array_get(c, i), "reason");
    return NULL;
}

static void archconf_tick__leader_reports_and_one_cluster_per_server(void **state)
{
    struct pitr_archconf_opts o;
    struct pitr_archconf *ac;
    struct pitr_archconf_stats stats;
    struct pitr_config cfg;
    json_t *st = json_object(), *st2 = json_object(), *st3 = json_object();

    (void)state;
    memset(&o, 0, sizeof(o));
    o.state_dir = root;
    o.conninfo = "host=/nonexistent-pitr port=1 connect_timeout=1";
    o.pgpitr_bin = "/usr/bin/pgpitr";
    ac = pitr_archconf_new(&o);
    base_cfg(&cfg);
    /* the server cannot be reached: nothing new is claimed, no stats */
    assert_int_equal(pitr_archconf_tick(ac, "ns", "a", &cfg, NULL, st, 100), 0);
    assert_null(cond_reason(st));
    assert_int_equal(pitr_archconf_stats_get(ac, "ns", "a", &stats), 0);
    assert_int_equal(access(root, F_OK), 0);
    /* a second Cluster for the same server is refused, and said so */
    assert_int_equal(pitr_archconf_tick(ac, "ns", "b", &cfg, NULL, st2, 100), 1);
    assert_string_equal(cond_reason(st2), "ArchiveConfigFailed");
    /* a Cluster whose settings could not be built */
    pitr_archconf_free(ac);
    ac = pitr_archconf_new(&o);
    assert_int_equal(pitr_archconf_tick(ac, "ns", "c", NULL, NULL, st3, 100), 1);
    assert_string_equal(cond_reason(st3), "ArchiveConfigFailed");
    /* not the leader: the status is not touched */
    assert_int_equal(pitr_archconf_tick(ac, "ns", "c", NULL, NULL, NULL, 200), 0);
    pitr_archconf_free(ac);
    pitr_archconf_free(NULL);
    pitr_config_release(&cfg);
    json_decref(st);
    json_decref(st2);
    json_decref(st3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(archconf_command__quotes_paths_and_doubles_percent),
        cmocka_unit_test(archconf_command__control_character_refused),
        cmocka_unit_test_setup_teardown(
          archconf_config_text__read_back_by_the_config_parser, setup, teardown),
        cmocka_unit_test(archconf_config_text__no_wal_compression_means_none),
        cmocka_unit_test(archconf_config_text__newline_in_a_secret_is_refused_unechoed),
        cmocka_unit_test(archconf_guc_action__table),
        cmocka_unit_test(archconf_archiving_ok__cnpg_rule),
        cmocka_unit_test_setup_teardown(
          archconf_tick__leader_reports_and_one_cluster_per_server, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
