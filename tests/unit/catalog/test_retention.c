/*
 * test_retention.c - unit tests for src/catalog/retention.c: policy
 * parsing, retention decisions as table-driven cases, WAL pruning plans
 * over several timelines, and backup resolution.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/catalog/retention.h"
#include "pgpitr/core/mem.h"

#define SEG16 PITR_WAL_SEG_SIZE_DEFAULT

/* ---- policies ---- */

static void parse_policy__every_form(void **state)
{
    static const struct {
        const char *in, *text;
        enum pitr_ret_kind kind;
        unsigned value;
        int64_t days;
    } ok[] = {
        { "REDUNDANCY 3", "REDUNDANCY 3", PITR_RET_REDUNDANCY, 3, 0 },
        { "  redundancy   0 ", "REDUNDANCY 0", PITR_RET_REDUNDANCY, 0, 0 },
        { "RECOVERY WINDOW OF 7 DAYS", "RECOVERY WINDOW OF 7 DAYS", PITR_RET_WINDOW, 7, 7 },
        { "recovery window of 1 day", "RECOVERY WINDOW OF 1 DAYS", PITR_RET_WINDOW, 1, 1 },
        { "Recovery Window Of 2 Weeks", "RECOVERY WINDOW OF 2 WEEKS", PITR_RET_WINDOW, 2, 14 },
        { "RECOVERY WINDOW OF 1 MONTH", "RECOVERY WINDOW OF 1 MONTHS", PITR_RET_WINDOW, 1, 31 },
        { "30d", "RECOVERY WINDOW OF 30 DAYS", PITR_RET_WINDOW, 30, 30 },
        { "4w", "RECOVERY WINDOW OF 4 WEEKS", PITR_RET_WINDOW, 4, 28 },
        { "6m", "RECOVERY WINDOW OF 6 MONTHS", PITR_RET_WINDOW, 6, 186 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct pitr_ret_policy p;
        struct pitr_err err = { 0 };

        assert_int_equal(pitr_ret_parse_policy(ok[i].in, &p, &err), PITR_OK);
        assert_string_equal(p.text, ok[i].text);
        assert_int_equal(p.kind, ok[i].kind);
        assert_int_equal(p.value, ok[i].value);
        assert_true(p.window_us == ok[i].days * 86400 * (int64_t)1000000);
    }
}

static void parse_policy__errors(void **state)
{
    static const char *bad[] = {
        "",
        "REDUNDANCY",
        "REDUNDANCY -1",
        "REDUNDANCY 2 extra",
        "REDUNDANCY x",
        "RECOVERY WINDOW OF 7 YEARS",
        "RECOVERY WINDOW 7 DAYS",
        "RECOVERY WINDOW OF DAYS",
        "RECOVERY WINDOW OF 7 DAYS more",
        "0d",
        "30",
        "d",
        "30y",
        "07d",
        "REDUNDANCY 100001",
        "999999999999999999999d",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pitr_ret_policy p;
        struct pitr_err err = { 0 };

        assert_int_equal(pitr_ret_parse_policy(bad[i], &p, &err), PITR_EUSAGE);
        assert_non_null(strstr(err.msg, "invalid retention policy"));
        assert_non_null(strstr(err.msg, bad[i]));
    }
}

/* ---- decisions ---- */

#define DAY ((int64_t)86400 * 1000000)
/* 2024-03-01 00:00:00 UTC */
#define T_MAR1 ((int64_t)1709251200 * 1000000)

struct bk {
    const char *id;
    const char *status;
    enum pitr_cat_keep keep;
    int64_t end_us;
    const char *begin_wal, *end_wal;
    int64_t tli;
};

static struct pitr_cat_backup *make(const struct bk *k, size_t n)
{
    struct pitr_cat_backup *v = pitr_calloc(n, sizeof(*v));

    for (size_t i = 0; i < n; i++) {
        v[i].id = pitr_strdup(k[i].id);
        v[i].status = pitr_strdup(k[i].status);
        v[i].keep = k[i].keep;
        v[i].has_end_time = k[i].end_us != 0;
        v[i].end_time_us = k[i].end_us;
        v[i].begin_wal = k[i].begin_wal ? pitr_strdup(k[i].begin_wal) : NULL;
        v[i].end_wal = k[i].end_wal ? pitr_strdup(k[i].end_wal) : NULL;
        v[i].timeline = k[i].tli ? k[i].tli : 1;
        v[i].xlog_segment_size = SEG16;
    }
    return v;
}

/* Expected statuses as a string: V valid, O obsolete, P potentially obsolete, F/S keep, - none. */
static void decide_case(const char *name,
                        const struct bk *k,
                        size_t n,
                        const char *policy,
                        unsigned minimum,
                        int64_t now,
                        const char *want)
{
    struct pitr_cat_backup *v = make(k, n);
    struct pitr_ret_policy p;
    struct pitr_err err = { 0 };
    enum pitr_ret_status *st = pitr_calloc(n, sizeof(*st));
    char got[32] = { 0 };

    assert_int_equal(pitr_ret_parse_policy(policy, &p, &err), PITR_OK);
    pitr_ret_decide(v, n, &p, minimum, now, st);
    for (size_t i = 0; i < n; i++)
        got[i] = "VOPFS"[st[i] - 1 < 5 ? st[i] - 1 : 0];
    for (size_t i = 0; i < n; i++)
        if (st[i] == PITR_RET_NONE)
            got[i] = '-';
    print_message("%s: %s -> %s\n", name, policy, got);
    assert_string_equal(got, want);
    pitr_free(st);
    pitr_cat_list_release(v, n);
}

static void decide__table(void **state)
{
    /* four daily backups ending at midnight Feb 26..29 2024 (leap year) */
    const struct bk four[] = {
        { "20240226T000000", "DONE", 0, T_MAR1 - 4 * DAY, NULL, NULL, 1 },
        { "20240227T000000", "DONE", 0, T_MAR1 - 3 * DAY, NULL, NULL, 1 },
        { "20240228T000000", "DONE", 0, T_MAR1 - 2 * DAY, NULL, NULL, 1 },
        { "20240229T000000", "DONE", 0, T_MAR1 - 1 * DAY, NULL, NULL, 1 },
    };
    const struct bk mixed[] = {
        { "20240226T000000", "DONE", PITR_CAT_KEEP_FULL, T_MAR1 - 4 * DAY, NULL, NULL, 1 },
        { "20240227T000000", "FAILED", 0, T_MAR1 - 3 * DAY, NULL, NULL, 1 },
        { "20240228T000000", "DONE", PITR_CAT_KEEP_STANDALONE, T_MAR1 - 2 * DAY, NULL, NULL, 1 },
        { "20240229T000000", "DONE", 0, T_MAR1 - 1 * DAY, NULL, NULL, 1 },
        { "20240229T120000", "STARTED", 0, 0, NULL, NULL, 1 },
    };
    /* end times across a month end: Jan 30, Jan 31, Feb 1, Mar 2 (2024) */
    const struct bk months[] = {
        { "20240130T000000", "DONE", 0, T_MAR1 - 31 * DAY, NULL, NULL, 1 },
        { "20240131T000000", "DONE", 0, T_MAR1 - 30 * DAY, NULL, NULL, 1 },
        { "20240201T000000", "DONE", 0, T_MAR1 - 29 * DAY, NULL, NULL, 1 },
        { "20240302T000000", "DONE", 0, T_MAR1 + 1 * DAY, NULL, NULL, 1 },
    };

    (void)state;
    decide_case("redundancy 2", four, 4, "REDUNDANCY 2", 0, T_MAR1, "OOVV");
    decide_case("redundancy larger than the backups", four, 4, "REDUNDANCY 9", 0, T_MAR1, "VVVV");
    decide_case("redundancy 0 obsoletes all", four, 4, "REDUNDANCY 0", 0, T_MAR1, "OOOO");
    decide_case("minimum redundancy raises redundancy", four, 4, "REDUNDANCY 1", 3, T_MAR1, "OVVV");
    /* window 1 day at Mar 1 00:00: point Feb 29 00:00; Feb 29 is not before it,
     * Feb 28 is the first older one and stays */
    decide_case("window keeps the first older backup", four, 4, "1d", 0, T_MAR1, "OOVV");
    decide_case("window older than all", four, 4, "30d", 0, T_MAR1, "VVVV");
    decide_case("window shorter than all",
                four,
                4,
                "RECOVERY WINDOW OF 1 DAYS",
                0,
                T_MAR1 + 10 * DAY,
                "OOOV");
    decide_case("window with minimum redundancy", four, 4, "1d", 3, T_MAR1 + 10 * DAY, "OPPV");
    /* keeps count towards redundancy, FAILED and STARTED are not classified */
    decide_case("keep and failed, redundancy 1", mixed, 5, "REDUNDANCY 1", 0, T_MAR1, "F-SV-");
    decide_case("keep and failed, redundancy 2", mixed, 5, "REDUNDANCY 2", 0, T_MAR1, "F-SV-");
    decide_case("keep and failed, short window", mixed, 5, "1d", 0, T_MAR1 + 10 * DAY, "F-SV-");
    /* a month is 31 days: at Mar 2 00:00 the point is Jan 31 00:00, and a backup
     * that ended exactly then is not older than the window */
    decide_case("month window, end equal to the point", months, 4, "1m", 0, T_MAR1 + DAY, "VVVV");
    /* at Mar 2 12:00 the point is Jan 31 12:00 (February has 29 days) */
    decide_case("month window over month ends", months, 4, "1m", 0, T_MAR1 + DAY + DAY / 2, "OVVV");
    decide_case("same window as 31 days", months, 4, "31d", 0, T_MAR1 + DAY + DAY / 2, "OVVV");
    decide_case("4 weeks is shorter", months, 4, "4w", 0, T_MAR1 + DAY + DAY / 2, "OOVV");
    decide_case("no backups", four, 0, "REDUNDANCY 1", 0, T_MAR1, "");
}

/* ---- WAL plans ---- */

static struct pitr_cat_wals wals(const char *const *names, size_t n)
{
    struct pitr_cat_wals w = { 0 };

    w.v = pitr_calloc(n + 1, sizeof(*w.v));
    w.seg_size = SEG16;
    for (size_t i = 0; i < n; i++) {
        char key[128];
        const char *hash = strchr(names[i], '.') && strstr(names[i], ".history") ? NULL : names[i];

        if (hash)
            snprintf(key, sizeof(key), "pg/wals/%.16s/%s", names[i], names[i]);
        else
            snprintf(key, sizeof(key), "pg/wals/%s", names[i]);
        assert_int_equal(pitr_cat_wal_parse_key("pg/wals/", key, 1, SEG16, &w.v[w.n]), 1);
        w.v[w.n++].key = pitr_strdup(key);
    }
    qsort(w.v, w.n, sizeof(*w.v), pitr_cat_wal_order);
    return w;
}

/* Names removed by the plan, space separated (by segment name without suffix). */
static void plan_case(const char *name,
                      const struct bk *k,
                      size_t n,
                      const int *gone,
                      int skip,
                      const char *const *names,
                      size_t nn,
                      const char *want)
{
    struct pitr_cat_backup *v = make(k, n);
    struct pitr_cat_wals w = wals(names, nn);
    size_t *step = pitr_calloc(w.n + 1, sizeof(*step));
    char got[1024] = "";

    pitr_ret_plan_wals(v, n, gone, skip, &w, step);
    for (size_t j = 0; j < w.n; j++) {
        if (step[j] == 0)
            continue;
        if (got[0])
            strncat(got, " ", sizeof(got) - strlen(got) - 1);
        strncat(got, w.v[j].name, sizeof(got) - strlen(got) - 1);
    }
    print_message("%s: %s\n", name, got);
    assert_string_equal(got, want);
    pitr_free(step);
    pitr_cat_wals_release(&w);
    pitr_cat_list_release(v, n);
}

#define S(t, n) "0000000" #t "000000000000000" #n

static void plan_wals__cases(void **state)
{
    static const char *const tl1[] = {
        S(1, 1), S(1, 2), S(1, 2) ".00000028.backup", S(1, 3), S(1, 4), S(1, 5), S(1, 6), S(1, 7),
        S(1, 8), S(1, 9), "00000001.history",
    };
    const struct bk b3[] = {
        { "20240101T000000", "DONE", 0, 1, S(1, 2), S(1, 2), 1 },
        { "20240102T000000", "DONE", 0, 1, S(1, 4), S(1, 5), 1 },
        { "20240103T000000", "DONE", 0, 1, S(1, 7), S(1, 7), 1 },
    };
    const int gone_first[] = { 1, 0, 0 }, gone_two[] = { 1, 1, 0 }, gone_mid[] = { 0, 1, 0 };
    const struct bk standalone[] = {
        { "20240101T000000", "DONE", PITR_CAT_KEEP_STANDALONE, 1, S(1, 2), S(1, 3), 1 },
        { "20240102T000000", "DONE", 0, 1, S(1, 4), S(1, 5), 1 },
        { "20240103T000000", "DONE", 0, 1, S(1, 7), S(1, 7), 1 },
    };
    const struct bk full[] = {
        { "20240101T000000", "DONE", PITR_CAT_KEEP_FULL, 1, S(1, 2), S(1, 3), 1 },
        { "20240102T000000", "DONE", 0, 1, S(1, 4), S(1, 5), 1 },
        { "20240103T000000", "DONE", 0, 1, S(1, 7), S(1, 7), 1 },
    };
    const struct bk failed_next[] = {
        { "20240101T000000", "DONE", 0, 1, S(1, 2), S(1, 2), 1 },
        { "20240102T000000", "FAILED", 0, 1, S(1, 4), NULL, 1 },
        { "20240103T000000", "DONE", 0, 1, S(1, 7), S(1, 7), 1 },
    };
    /* three timelines: backups on 1 and 3, a timeline 2 in between without backups */
    static const char *const tls[] = {
        S(1, 1),
        S(1, 2),
        S(1, 3),
        S(1, 4),
        "00000002.history",
        S(2, 4),
        S(2, 5),
        "00000003.history",
        S(3, 5),
        S(3, 6),
        S(3, 7),
        S(3, 8),
        S(4, 9),
    };
    const struct bk multi[] = {
        { "20240101T000000", "DONE", 0, 1, S(1, 2), S(1, 2), 1 },
        { "20240102T000000", "DONE", 0, 1, S(3, 7), S(3, 7), 3 },
    };
    const struct bk multi3[] = {
        { "20240101T000000", "DONE", 0, 1, S(1, 2), S(1, 2), 1 },
        { "20240102T000000", "DONE", 0, 1, S(1, 3), S(1, 3), 1 },
        { "20240103T000000", "DONE", 0, 1, S(3, 7), S(3, 7), 3 },
    };
    const int gone_1of2[] = { 1, 0 }, gone_12of3[] = { 1, 1, 0 };

    (void)state;
    plan_case("oldest of three",
              b3,
              3,
              gone_first,
              0,
              tl1,
              11,
              S(1, 1) " " S(1, 2) " " S(1, 2) ".00000028.backup " S(1, 3));
    plan_case("two oldest",
              b3,
              3,
              gone_two,
              0,
              tl1,
              11,
              S(1, 1) " " S(1, 2) " " S(1, 2) ".00000028.backup " S(1, 3) " " S(1, 4) " " S(
                1, 5) " " S(1, 6));
    /* an older backup remains without keep: nothing goes (PITR from it) */
    plan_case("middle one", b3, 3, gone_mid, 0, tl1, 11, "");
    /* the older one is standalone: its range (2..3, with the .backup file) stays, the
     * rest up to the next begin goes */
    plan_case("after a standalone",
              standalone,
              3,
              gone_mid,
              0,
              tl1,
              11,
              S(1, 1) " " S(1, 4) " " S(1, 5) " " S(1, 6));
    /* as delete -b: nothing goes after a standalone */
    plan_case("after a standalone, delete -b", standalone, 3, gone_mid, 1, tl1, 11, "");
    plan_case("after a keep:full", full, 3, gone_mid, 0, tl1, 11, "");
    /* a FAILED next backup is skipped: remove until the next DONE one */
    plan_case("failed next",
              failed_next,
              3,
              gone_first,
              0,
              tl1,
              11,
              S(1, 1) " " S(1, 2) " " S(1, 2) ".00000028.backup " S(1, 3) " " S(1, 4) " " S(
                1, 5) " " S(1, 6));
    /* timelines: 1 and 2 (older, no backup left) go whole; 3 below begin; 4 (newer) stays;
     * history files stay */
    plan_case(
      "several timelines",
      multi,
      2,
      gone_1of2,
      0,
      tls,
      13,
      S(1, 1) " " S(1, 2) " " S(1, 3) " " S(1, 4) " " S(2, 4) " " S(2, 5) " " S(3, 5) " " S(3, 6));
    /* timeline 1 still holds a backup when the first goes: barman protects... only
     * other timelines; remove_until is the tl-1 backup itself */
    plan_case(
      "timeline with a remaining backup", multi3, 3, gone_first, 0, tls, 13, S(1, 1) " " S(1, 2));
    plan_case(
      "both tl-1 backups go",
      multi3,
      3,
      gone_12of3,
      0,
      tls,
      13,
      S(1, 1) " " S(1, 2) " " S(1, 3) " " S(1, 4) " " S(2, 4) " " S(2, 5) " " S(3, 5) " " S(3, 6));
}

static void plan_wals__never_at_or_after_a_remaining_begin(void **state)
{
    /* the next backup's begin_wal is later than a remaining one's on the same
     * timeline (ids out of LSN order, e.g. a clock step): the floor wins */
    static const char *const names[] = { S(1, 1), S(1, 2), S(1, 3), S(1, 4), S(1, 5) };
    const struct bk odd[] = {
        { "20240101T000000", "DONE", 0, 1, S(1, 2), S(1, 2), 1 },
        { "20240102T000000", "DONE", 0, 1, S(1, 5), S(1, 5), 1 },
        { "20240103T000000", "DONE", 0, 1, S(1, 3), S(1, 3), 1 },
    };
    const struct bk unparsable[] = {
        { "20240101T000000", "DONE", 0, 1, S(1, 2), S(1, 2), 1 },
        { "20240102T000000", "DONE", 0, 1, S(1, 4), S(1, 4), 1 },
        { "20240103T000000", "DONE", 0, 1, "garbage", NULL, 1 },
    };
    const int gone_first[] = { 1, 0, 0 };

    (void)state;
    plan_case("floor", odd, 3, gone_first, 0, names, 5, S(1, 1) " " S(1, 2));
    plan_case("unparsable begin protects the timeline", unparsable, 3, gone_first, 0, names, 5, "");
}

/* ---- the plan against a reference: the first, quadratic, version of the rules ---- */

static int ref_copy_done(const struct pitr_cat_backup *b)
{
    return b->status != NULL &&
           (strcmp(b->status, "DONE") == 0 || strcmp(b->status, "WAITING_FOR_WALS") == 0);
}

struct rpos {
    int ok;
    uint32_t tli;
    uint64_t segno;
};

static struct rpos ref_pos(const char *seg)
{
    struct rpos p = { 0 };
    struct pitr_err err = { 0 };

    p.ok = pitr_cat_wal_segment_pos(seg, SEG16, &p.tli, &p.segno, &err) == PITR_OK;
    return p;
}

static int ref_cmp(uint32_t tli, uint64_t segno, struct rpos b)
{
    if (tli != b.tli)
        return tli < b.tli ? -1 : 1;
    return segno < b.segno ? -1 : segno > b.segno ? 1 : 0;
}

/* Every entry against every backup, as barman words it. */
static void ref_plan(const struct pitr_cat_backup *v,
                     size_t n,
                     const int *gone,
                     int skip,
                     const struct pitr_cat_wals *w,
                     size_t *step)
{
    unsigned char alive[64];
    size_t ranges[64];

    assert_true(n < 64);
    memset(alive, 1, sizeof(alive));
    for (size_t j = 0; j < w->n; j++)
        step[j] = 0;
    for (size_t d = 0; d < n; d++) {
        size_t nranges = 0, ru = d;
        int remove = 1;
        struct rpos until;

        if (!gone[d])
            continue;
        for (size_t p = d; p-- > 0;) {
            if (!alive[p] || !ref_copy_done(&v[p]))
                continue;
            if (v[p].keep == PITR_CAT_KEEP_STANDALONE) {
                if (skip) {
                    remove = 0;
                    break;
                }
                ranges[nranges++] = p;
                continue;
            }
            remove = 0;
            break;
        }
        if (remove) {
            for (size_t k = d + 1; k < n; k++)
                if (alive[k] && ref_copy_done(&v[k])) {
                    ru = k;
                    break;
                }
            until = ref_pos(v[ru].begin_wal);
            for (size_t j = 0; until.ok && j < w->n; j++) {
                const struct pitr_cat_wal *e = &w->v[j];
                int prot = 0, in_range = 0;

                if (step[j] != 0 || e->kind == PITR_WAL_HISTORY)
                    continue;
                if ((int64_t)e->tli != v[ru].timeline)
                    for (size_t k = 0; k < n && !prot; k++)
                        prot = alive[k] && k != d && v[k].timeline == (int64_t)e->tli;
                if (prot)
                    continue;
                for (size_t r = 0; r < nranges && !in_range; r++) {
                    struct rpos b = ref_pos(v[ranges[r]].begin_wal);
                    struct rpos en = ref_pos(v[ranges[r]].end_wal);

                    in_range =
                      !b.ok || !en.ok ||
                      (ref_cmp(e->tli, e->segno, b) >= 0 && ref_cmp(e->tli, e->segno, en) <= 0);
                }
                if (!in_range && ref_cmp(e->tli, e->segno, until) < 0)
                    step[j] = d + 1;
            }
        }
        alive[d] = 0;
    }
    for (size_t k = 0; k < n; k++) {
        struct rpos b;

        if (!alive[k] || !ref_copy_done(&v[k]) || v[k].keep == PITR_CAT_KEEP_STANDALONE)
            continue;
        b = ref_pos(v[k].begin_wal);
        for (size_t j = 0; j < w->n; j++) {
            const struct pitr_cat_wal *e = &w->v[j];

            if (b.ok ? e->tli == b.tli && e->segno >= b.segno
                     : v[k].timeline < 0 || (int64_t)e->tli == v[k].timeline)
                step[j] = 0;
        }
    }
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static char *seg_of(uint32_t tli, uint64_t segno)
{
    char name[25];

    pitr_cat_wal_segment_name(tli, segno, SEG16, name);
    return pitr_strdup(name);
}

/*
 * Random repositories (timelines 1-4, FAILED and keep:standalone backups,
 * unparsable begin_wal, random deletions, both skip modes): the plan is the
 * reference's, entry for entry.
 */
static void plan_wals__same_as_reference_on_random_repositories(void **state)
{
    static const char *const statuses[] = { "DONE", "DONE", "DONE", "FAILED", "WAITING_FOR_WALS" };

    (void)state;
    for (int round = 0; round < 400; round++) {
        size_t nb = 1 + rnd(12), nw = 0;
        struct pitr_cat_backup *v = pitr_calloc(nb, sizeof(*v));
        struct pitr_cat_wals w = { 0 };
        int gone[16] = { 0 };
        size_t *got, *want;
        int skip = (int)rnd(2);

        w.seg_size = SEG16;
        w.v = pitr_calloc(200, sizeof(*w.v));
        for (uint32_t tli = 1; tli <= 4; tli++) {
            uint64_t first = rnd(10), count = rnd(30);

            if (tli > 1 && rnd(3) != 0) {
                w.v[nw].kind = PITR_WAL_HISTORY;
                w.v[nw].tli = tli;
                w.v[nw].key = pitr_asprintf("pg/wals/%08X.history", tli);
                nw++;
            }
            for (uint64_t s = first; s < first + count; s++) {
                if (rnd(10) == 0)
                    continue; /* a gap */
                w.v[nw].kind = rnd(8) == 0 ? PITR_WAL_BACKUP : PITR_WAL_SEGMENT;
                w.v[nw].tli = tli;
                w.v[nw].segno = s;
                w.v[nw].key = pitr_asprintf("pg/wals/%08X/%u.%u", tli, (unsigned)s, w.v[nw].kind);
                nw++;
            }
        }
        w.n = nw;
        qsort(w.v, w.n, sizeof(*w.v), pitr_cat_wal_order);
        for (size_t i = 0; i < nb; i++) {
            uint32_t tli = 1 + rnd(4);
            uint64_t b = rnd(40);

            v[i].id = pitr_asprintf("202401%02zuT000000", i + 1);
            v[i].status = pitr_strdup(statuses[rnd(5)]);
            v[i].keep = rnd(6) == 0 ? PITR_CAT_KEEP_STANDALONE : PITR_CAT_KEEP_NONE;
            v[i].timeline = rnd(15) == 0 ? -1 : (int64_t)tli;
            v[i].begin_wal = rnd(15) == 0 ? pitr_strdup("garbage") : seg_of(tli, b);
            v[i].end_wal = rnd(15) == 0 ? NULL : seg_of(tli, b + rnd(3));
            v[i].xlog_segment_size = SEG16;
            gone[i] = rnd(3) != 0;
        }
        got = pitr_calloc(w.n + 1, sizeof(*got));
        want = pitr_calloc(w.n + 1, sizeof(*want));
        pitr_ret_plan_wals(v, nb, gone, skip, &w, got);
        ref_plan(v, nb, gone, skip, &w, want);
        for (size_t j = 0; j < w.n; j++) {
            if (got[j] != want[j])
                print_message("round %d: '%s' step %zu, the reference says %zu\n",
                              round,
                              w.v[j].key,
                              got[j],
                              want[j]);
            assert_int_equal(got[j], want[j]);
        }
        pitr_free(got);
        pitr_free(want);
        pitr_cat_wals_release(&w);
        pitr_cat_list_release(v, nb);
    }
}

/*
 * 100,000 segments on 3 timelines and 1,000 backups, all but the newest 3
 * deleted (REDUNDANCY 3): everything before the oldest remaining backup's
 * begin goes, each segment freed by the deletion just before it, and the
 * plan is quick (the entry-by-backup version took minutes here).
 */
static void plan_wals__large_repository(void **state)
{
    enum { NW = 100000, NB = 1000, STEP = NW / NB };
    struct pitr_cat_backup *v = pitr_calloc(NB, sizeof(*v));
    struct pitr_cat_wals w = { 0 };
    int *gone = pitr_calloc(NB, sizeof(*gone));
    size_t *step = pitr_calloc(NW + 1, sizeof(*step)), removed = 0;

    (void)state;
    w.seg_size = SEG16;
    w.v = pitr_calloc(NW, sizeof(*w.v));
    for (size_t j = 0; j < NW; j++) {
        /* timeline 1 for the first 40 %, 2 for the next 30 %, 3 for the rest */
        w.v[j].tli = j < NW * 4 / 10 ? 1 : j < NW * 7 / 10 ? 2 : 3;
        w.v[j].segno = 2 + j;
        w.v[j].kind = PITR_WAL_SEGMENT;
        w.v[j].key = pitr_asprintf("k%zu", j);
    }
    w.n = NW;
    for (size_t i = 0; i < NB; i++) {
        v[i].id = pitr_asprintf("b%04zu", i);
        v[i].status = pitr_strdup("DONE");
        v[i].timeline = w.v[i * STEP].tli;
        v[i].begin_wal = seg_of(w.v[i * STEP].tli, w.v[i * STEP].segno);
        v[i].end_wal = seg_of(w.v[i * STEP].tli, w.v[i * STEP].segno + 1);
        v[i].xlog_segment_size = SEG16;
        gone[i] = i < NB - 3;
    }
    pitr_ret_plan_wals(v, NB, gone, 0, &w, step);
    for (size_t j = 0; j < NW; j++) {
        size_t want = j < (NB - 3) * STEP ? j / STEP + 1 : 0;

        if (step[j] != want)
            print_message("entry %zu: step %zu, want %zu\n", j, step[j], want);
        assert_int_equal(step[j], want);
        removed += step[j] != 0;
    }
    assert_int_equal(removed, (NB - 3) * STEP);
    pitr_free(step);
    pitr_free(gone);
    pitr_cat_wals_release(&w);
    pitr_cat_list_release(v, NB);
}

static void resolve__ids_names_shortcuts(void **state)
{
    const struct bk k[] = {
        { "20240101T000000", "DONE", 0, 1, NULL, NULL, 1 },
        { "20240102T000000", "DONE", 0, 1, NULL, NULL, 1 },
        { "20240103T000000", "FAILED", 0, 1, NULL, NULL, 1 },
    };
    struct pitr_cat_backup *v = make(k, 3);
    struct pitr_err err = { 0 };
    size_t idx = 99;

    (void)state;
    v[0].backup_name = pitr_strdup("nightly");
    v[1].backup_name = pitr_strdup("twice");
    v[2].backup_name = pitr_strdup("twice");
    assert_int_equal(pitr_ret_resolve(v, 3, "20240102T000000", &idx, &err), PITR_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(pitr_ret_resolve(v, 3, "nightly", &idx, &err), PITR_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(pitr_ret_resolve(v, 3, "latest", &idx, &err), PITR_OK);
    assert_int_equal(idx, 1); /* newest DONE, not the FAILED one */
    assert_int_equal(pitr_ret_resolve(v, 3, "oldest", &idx, &err), PITR_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(pitr_ret_resolve(v, 3, "20990101T000000", &idx, &err), PITR_ENOTFOUND);
    assert_non_null(strstr(err.msg, "20990101T000000"));
    assert_int_equal(pitr_ret_resolve(v, 3, "twice", &idx, &err), PITR_EGENERAL);
    assert_non_null(strstr(err.msg, "multiple"));
    assert_int_equal(pitr_ret_resolve(v, 3, "nope", &idx, &err), PITR_EGENERAL);
    assert_true(pitr_ret_is_backup_id("20240101T000000"));
    assert_false(pitr_ret_is_backup_id("20240101T00000"));
    assert_false(pitr_ret_is_backup_id("2024010lT000000"));
    pitr_cat_list_release(v, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_policy__every_form),
        cmocka_unit_test(parse_policy__errors),
        cmocka_unit_test(decide__table),
        cmocka_unit_test(plan_wals__cases),
        cmocka_unit_test(plan_wals__never_at_or_after_a_remaining_begin),
        cmocka_unit_test(plan_wals__same_as_reference_on_random_repositories),
        cmocka_unit_test(plan_wals__large_repository),
        cmocka_unit_test(resolve__ids_names_shortcuts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
