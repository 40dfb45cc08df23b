/*
 * test_args.c - unit tests for src/cmd/args.c: pgpitr's own option rules
 * and the argparse mode the barman-cloud-* personalities use (prefixes,
 * ambiguity, --opt=value, interleaving, bundles, lists, "--").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/cmd/args.h"

#include "../support/logcap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define AP   PITR_ARGS_ARGPARSE

/* A barman-like option set; each parse fills a fresh one. */
struct res {
    const char *endpoint, *read_timeout, *retention, *jobs, *name;
    int verbose, gzip, test, dry_run, njobs_set, ntags, ntbs, npos;
    char *tags[16], *tbs[16], *pos[16];
    char **tags_p, **tbs_p;
    struct pitr_err err;
};

static pitr_rc run(struct res *r, int mode, int argc, const char **argv)
{
    struct pitr_opt opts[] = {
        { "endpoint-url", 0, PITR_OPT_VALUE, &r->endpoint, NULL, NULL },
        { "read-timeout", 0, PITR_OPT_VALUE, &r->read_timeout, NULL, NULL },
        { "retention-policy", 'r', PITR_OPT_VALUE, &r->retention, NULL, NULL },
        { "jobs", 'J', PITR_OPT_VALUE, &r->jobs, &r->njobs_set, NULL },
        { "name", 'n', PITR_OPT_VALUE, &r->name, NULL, NULL },
        { "verbose", 'v', PITR_OPT_SWITCH, NULL, &r->verbose, NULL },
        { "gzip", 'z', PITR_OPT_SWITCH, NULL, &r->gzip, NULL },
        { "test", 't', PITR_OPT_SWITCH, NULL, &r->test, NULL },
        { "dry-run", 0, PITR_OPT_SWITCH, NULL, &r->dry_run, NULL },
        { "tags", 0, PITR_OPT_LIST, NULL, &r->ntags, &r->tags_p },
        { "tablespace", 0, PITR_OPT_APPEND, NULL, &r->ntbs, &r->tbs_p },
    };

    memset(r, 0, sizeof(*r));
    r->tags_p = r->tags;
    r->tbs_p = r->tbs;
    return pitr_args_parse_mode(
      "prog", mode, argc, (char **)argv, opts, N(opts), r->pos, &r->npos, &r->err);
}

static void prefix__unambiguous_long_prefix_is_the_option(void **state)
{
    const char *argv[] = { "--endp", "http://h:1", "--read=60", "s3://b", "srv" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_string_equal(r.endpoint, "http://h:1");
    assert_string_equal(r.read_timeout, "60");
    assert_int_equal(r.npos, 2);
}

static void prefix__one_letter_prefix(void **state)
{
    /* "--n" is "--name": no other option starts with n */
    const char *argv[] = { "--n", "x" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_string_equal(r.name, "x");
}

static void prefix__ambiguous_prefix_names_every_candidate(void **state)
{
    const char *argv[] = { "--re", "5", "a", "b" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_EUSAGE);
    assert_non_null(strstr(r.err.msg, "ambiguous option: --re"));
    assert_non_null(strstr(r.err.msg, "--read-timeout"));
    assert_non_null(strstr(r.err.msg, "--retention-policy"));
}

static void prefix__not_in_pgpitr_mode(void **state)
{
    const char *argv[] = { "--endp", "x" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, 0, N(argv), argv), PITR_EUSAGE);
    assert_non_null(strstr(r.err.msg, "unknown option '--endp'"));
}

static void value__equals_form_and_separate_form(void **state)
{
    const char *argv[] = { "--endpoint-url=http://a=b", "-J4", "-n", "bk", "-r=REDUNDANCY 2" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_string_equal(r.endpoint, "http://a=b"); /* split on the first '=' only */
    assert_string_equal(r.jobs, "4");
    assert_string_equal(r.name, "bk");
    assert_string_equal(r.retention, "REDUNDANCY 2");
}

static void value__option_like_word_is_no_value(void **state)
{
    const char *argv[] = { "--name", "-v" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_EUSAGE);
    assert_non_null(strstr(r.err.msg, "'--name' needs a value"));
    /* pgpitr's own mode keeps taking the next word */
    assert_int_equal(run(&r, 0, N(argv), argv), PITR_OK);
    assert_string_equal(r.name, "-v");
}

static void value__negative_number_is_a_value(void **state)
{
    const char *argv[] = { "--jobs", "-1", "-5" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_string_equal(r.jobs, "-1");
    assert_int_equal(r.npos, 1);
    assert_string_equal(r.pos[0], "-5");
}

static void value__missing_at_the_end(void **state)
{
    const char *argv[] = { "a", "--jobs" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_EUSAGE);
    assert_non_null(strstr(r.err.msg, "needs a value"));
}

static void switch__explicit_value_refused(void **state)
{
    const char *argv[] = { "--dry-run=yes" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_EUSAGE);
    assert_non_null(strstr(r.err.msg, "takes no value"));
}

static void interleave__options_between_positionals(void **state)
{
    /* CloudNativePG's in-tree restore order: DEST SERVER ID <provider> PGDATA */
    const char *argv[] = { "--endpoint-url", "http://e", "s3://b/p", "srv", "bk1",
                           "--test",         "/pgdata" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.npos, 4);
    assert_string_equal(r.pos[0], "s3://b/p");
    assert_string_equal(r.pos[2], "bk1");
    assert_string_equal(r.pos[3], "/pgdata");
    assert_int_equal(r.test, 1);
}

static void bundle__short_switches_and_a_value(void **state)
{
    const char *argv[] = { "-vvzJ8", "x" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.verbose, 2);
    assert_int_equal(r.gzip, 1);
    assert_string_equal(r.jobs, "8");
    assert_int_equal(r.npos, 1);
    /* pgpitr's own mode: no bundling */
    assert_int_equal(run(&r, 0, N(argv), argv), PITR_EUSAGE);
}

static void bundle__unknown_letter_is_named(void **state)
{
    const char *argv[] = { "-vx" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_EUSAGE);
    assert_non_null(strstr(r.err.msg, "unrecognized argument '-vx'"));
}

static void list__takes_words_up_to_the_next_option(void **state)
{
    const char *argv[] = { "--tags", "k1,v1", "k2,v2", "--gzip", "s3://b", "srv" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.ntags, 2);
    assert_string_equal(r.tags[1], "k2,v2");
    assert_int_equal(r.npos, 2);
}

static void list__is_greedy_like_argparse(void **state)
{
    /* argparse's nargs="*" also swallows the positionals that follow */
    const char *argv[] = { "--tags", "k,v", "s3://b", "srv" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.ntags, 3);
    assert_int_equal(r.npos, 0);
}

static void list__empty_and_last_occurrence_wins(void **state)
{
    const char *argv[] = { "--tags", "a,b", "--tags", "--tags=c,d", "x" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.ntags, 1);
    assert_string_equal(r.tags[0], "c,d");
    assert_int_equal(r.npos, 1);
}

static void append__keeps_every_occurrence(void **state)
{
    const char *argv[] = { "--tablespace", "a:/x", "p", "--tablespace=b:/y" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.ntbs, 2);
    assert_string_equal(r.tbs[0], "a:/x");
    assert_string_equal(r.tbs[1], "b:/y");
    assert_int_equal(r.npos, 1);
}

static void dashdash__ends_options(void **state)
{
    const char *argv[] = { "-v", "--", "--gzip", "-z", "x" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.verbose, 1);
    assert_int_equal(r.gzip, 0);
    assert_int_equal(r.npos, 3);
    assert_string_equal(r.pos[0], "--gzip");
    assert_string_equal(r.pos[1], "-z");
}

static void dashdash__ends_a_list(void **state)
{
    const char *argv[] = { "--tags", "a,b", "--", "s3://b", "srv" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.ntags, 1);
    assert_int_equal(r.npos, 2);
}

static void single_dash__is_positional(void **state)
{
    const char *argv[] = { "-", "x" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_int_equal(r.npos, 2);
}

static void value__set_counts_given(void **state)
{
    const char *argv[] = { "-J", "2", "-J3" };
    struct res r;

    (void)state;
    assert_int_equal(run(&r, AP, N(argv), argv), PITR_OK);
    assert_string_equal(r.jobs, "3"); /* the last one wins */
    assert_int_equal(r.njobs_set, 1);
}

static void list__without_item_array_is_a_bug(void **state)
{
    const char *v = NULL;
    int n = 0;
    struct pitr_opt bad[] = { { "tags", 0, PITR_OPT_LIST, &v, &n, NULL } };
    char *pos[2];
    int npos;
    char *argv[] = { (char *)"x" };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_args_parse_mode("prog", AP, 1, argv, bad, 1, pos, &npos, &err),
                     PITR_EINTERNAL);
}

static void pitr_args_int__range_junk_and_absent(void **state)
{
    struct pitr_test_log log = { { 0 } };
    int v = 7;

    (void)state;
    assert_int_equal(pitr_args_int("backup", "--jobs", NULL, 1, 64, &v), PITR_OK);
    assert_int_equal(v, 7); /* not given: the default stays */
    assert_int_equal(pitr_args_int("backup", "--jobs", "64", 1, 64, &v), PITR_OK);
    assert_int_equal(v, 64);
    assert_int_equal(pitr_args_int("backup", "--jobs", "1", 1, 64, &v), PITR_OK);
    assert_int_equal(v, 1);
    pitr_log_set_sink(pitr_test_log_sink, &log);
    assert_int_equal(pitr_args_int("backup", "--jobs", "65", 1, 64, &v), PITR_EUSAGE);
    assert_int_equal(pitr_args_int("backup", "--jobs", "0", 1, 64, &v), PITR_EUSAGE);
    assert_int_equal(pitr_args_int("backup", "--jobs", "4x", 1, 64, &v), PITR_EUSAGE);
    assert_int_equal(pitr_args_int("backup", "--jobs", "", 1, 64, &v), PITR_EUSAGE);
    assert_int_equal(pitr_args_int("backup", "--jobs", "99999999999999999999", 1, 64, &v),
                     PITR_EUSAGE);
    pitr_log_set_sink(NULL, NULL);
    assert_int_equal(v, 1); /* a refused value changes nothing */
    assert_non_null(
      strstr(log.text, "backup: option '--jobs' needs a number from 1 to 64, not '4x'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prefix__unambiguous_long_prefix_is_the_option),
        cmocka_unit_test(prefix__one_letter_prefix),
        cmocka_unit_test(prefix__ambiguous_prefix_names_every_candidate),
        cmocka_unit_test(prefix__not_in_pgpitr_mode),
        cmocka_unit_test(value__equals_form_and_separate_form),
        cmocka_unit_test(value__option_like_word_is_no_value),
        cmocka_unit_test(value__negative_number_is_a_value),
        cmocka_unit_test(value__missing_at_the_end),
        cmocka_unit_test(value__set_counts_given),
        cmocka_unit_test(switch__explicit_value_refused),
        cmocka_unit_test(interleave__options_between_positionals),
        cmocka_unit_test(bundle__short_switches_and_a_value),
        cmocka_unit_test(bundle__unknown_letter_is_named),
        cmocka_unit_test(list__takes_words_up_to_the_next_option),
        cmocka_unit_test(list__is_greedy_like_argparse),
        cmocka_unit_test(list__empty_and_last_occurrence_wins),
        cmocka_unit_test(list__without_item_array_is_a_bug),
        cmocka_unit_test(append__keeps_every_occurrence),
        cmocka_unit_test(dashdash__ends_options),
        cmocka_unit_test(dashdash__ends_a_list),
        cmocka_unit_test(single_dash__is_positional),
        cmocka_unit_test(pitr_args_int__range_junk_and_absent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
