/*
 * test_sched.c - unit tests for src/agent/sched.c: the ScheduledBackup
 * decision with a fake clock and a fake "every 20 s" schedule: immediate
 * on first sight, first check without immediate, names from the slot,
 * one catch-up after downtime, adoption after a crash, the child gate,
 * refused adoption, suspend, deadlines and owner references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/agent/sched.h"

/* 2026-12-03 04:00:00 UTC */
#define T0 ((int64_t)1796270400)

static int64_t every20(const void *ctx, int64_t after)
{
    (void)ctx;
    return (after / 20 + 1) * 20;
}

static int64_t never(const void *ctx, int64_t after)
{
    (void)ctx;
    (void)after;
    return 0;
}

static struct pitr_sched_input input(void)
{
    struct pitr_sched_input in;

    memset(&in, 0, sizeof(in));
    in.name = "daily";
    in.next = every20;
    return in;
}

static void sched_decide__immediate_on_first_sight(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_decision d;

    (void)state;
    in.immediate = 1;
    pitr_sched_decide(&in, T0 + 5, &d);
    assert_int_equal(d.action, PITR_SCHED_CREATE);
    assert_int_equal(d.immediate, 1);
    assert_string_equal(d.backup_name, "daily-20261203040005");
    assert_int_equal(d.backup_time, T0 + 5);
    assert_int_equal(d.status.last_check, T0 + 5);
    assert_int_equal(d.status.last_schedule, T0 + 5);
    assert_int_equal(d.status.next_schedule, T0 + 20);
    assert_int_equal(d.requeue, T0 + 20);
}

static void sched_decide__first_sight_without_immediate_only_records_check(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_decision d;

    (void)state;
    pitr_sched_decide(&in, T0 + 5, &d);
    assert_int_equal(d.action, PITR_SCHED_FIRST_CHECK);
    assert_int_equal(d.status.last_check, T0 + 5);
    assert_int_equal(d.status.last_schedule, 0);
    assert_int_equal(d.status.next_schedule, 0);
    assert_int_equal(d.requeue, T0 + 20);
}

static void sched_decide__not_due_before_slot(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_decision d;

    (void)state;
    in.status.last_check = T0 + 5;
    pitr_sched_decide(&in, T0 + 19, &d);
    assert_int_equal(d.action, PITR_SCHED_NOT_DUE);
    assert_int_equal(d.requeue, T0 + 20);
    assert_int_equal(d.status_changed, 0);
}

static void sched_decide__name_from_slot_not_from_now(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_decision d;

    (void)state;
    in.status.last_check = T0 + 5;
    pitr_sched_decide(&in, T0 + 23, &d);
    assert_int_equal(d.action, PITR_SCHED_CREATE);
    assert_int_equal(d.immediate, 0);
    assert_string_equal(d.backup_name, "daily-20261203040020");
    assert_int_equal(d.status.last_schedule, T0 + 20);
    assert_int_equal(d.status.last_check, T0 + 23);
    assert_int_equal(d.status.next_schedule, T0 + 40);
}

static void sched_decide__one_catch_up_after_downtime(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_backup made;
    struct pitr_sched_decision d;

    (void)state;
    /* down from T0+5 to T0+75: slots 20, 40 and 60 were missed */
    in.status.last_check = T0 + 5;
    pitr_sched_decide(&in, T0 + 75, &d);
    assert_int_equal(d.action, PITR_SCHED_CREATE);
    assert_string_equal(d.backup_name, "daily-20261203040020");
    assert_int_equal(d.status.next_schedule, T0 + 80);
    /* once that catch-up is done, nothing more until the next slot */
    made.name = d.backup_name;
    made.parent = "daily";
    made.immediate = 0;
    made.done = 1;
    made.created = T0 + 75;
    in.backups = &made;
    in.n_backups = 1;
    in.status = d.status;
    pitr_sched_decide(&in, T0 + 79, &d);
    assert_int_equal(d.action, PITR_SCHED_NOT_DUE);
    assert_int_equal(d.requeue, T0 + 80);
}

static void sched_decide__adopts_backup_left_by_crash(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_backup b = { "daily-20261203040020", "daily", 0, 1, T0 + 21 };
    struct pitr_sched_decision d;

    (void)state;
    /* the Backup was stored but lastCheckTime was not advanced before the crash */
    in.status.last_check = T0 + 5;
    in.backups = &b;
    in.n_backups = 1;
    pitr_sched_decide(&in, T0 + 30, &d);
    assert_int_equal(d.action, PITR_SCHED_ADOPT);
    assert_string_equal(d.backup_name, "daily-20261203040020");
    assert_int_equal(d.status.last_schedule, T0 + 20);
    assert_int_equal(d.status.next_schedule, T0 + 40);
}

static void sched_decide__adopts_oldest_immediate_backup(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_backup b[3] = {
        { "daily-20261203040009", "daily", 1, 1, T0 + 9 },
        { "daily-20261203040003", "daily", 1, 1, T0 + 3 },
        { "other-20261203040001", "other", 1, 1, T0 + 1 },
    };
    struct pitr_sched_decision d;

    (void)state;
    in.immediate = 1;
    in.backups = b;
    in.n_backups = 3;
    pitr_sched_decide(&in, T0 + 12, &d);
    assert_int_equal(d.action, PITR_SCHED_ADOPT);
    assert_string_equal(d.backup_name, "daily-20261203040003");
    assert_int_equal(d.status.last_check, T0 + 12);
}

static void sched_decide__waits_while_child_not_done(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_backup b = { "daily-20261203040020", "daily", 0, 0, T0 + 21 };
    struct pitr_sched_decision d;

    (void)state;
    in.status.last_check = T0 + 21;
    in.backups = &b;
    in.n_backups = 1;
    pitr_sched_decide(&in, T0 + 45, &d);
    assert_int_equal(d.action, PITR_SCHED_WAIT_CHILD);
    assert_int_equal(d.requeue, T0 + 45 + PITR_SCHED_CHILD_RECHECK);
    assert_int_equal(d.status_changed, 0);
}

static void sched_decide__refuses_name_held_by_other_object(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_backup b = { "daily-20261203040020", NULL, 0, 1, T0 };
    struct pitr_sched_decision d;

    (void)state;
    in.status.last_check = T0 + 5;
    in.status.last_schedule = T0 + 5;
    in.backups = &b;
    in.n_backups = 1;
    pitr_sched_decide(&in, T0 + 25, &d);
    assert_int_equal(d.action, PITR_SCHED_REFUSE);
    assert_int_equal(d.status.last_schedule, T0 + 5);
    assert_int_equal(d.status.last_check, T0 + 25);
    assert_int_equal(d.status.next_schedule, T0 + 40);
}

static void sched_decide__suspend_does_nothing(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_decision d;

    (void)state;
    in.suspend = 1;
    in.immediate = 1;
    in.status.last_check = T0 + 5;
    pitr_sched_decide(&in, T0 + 500, &d);
    assert_int_equal(d.action, PITR_SCHED_SUSPENDED);
    assert_int_equal(d.status_changed, 0);
    assert_int_equal(d.status.last_check, T0 + 5);
}

static void sched_decide__no_next_activation(void **state)
{
    struct pitr_sched_input in = input();
    struct pitr_sched_decision d;

    (void)state;
    in.next = never;
    in.status.last_check = T0;
    pitr_sched_decide(&in, T0 + 5, &d);
    assert_int_equal(d.action, PITR_SCHED_NO_SCHEDULE);
}

static void sched_backup_name__too_long_fails(void **state)
{
    char big[300];
    char out[PITR_SCHED_NAME_MAX];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(pitr_sched_backup_name(big, T0, out, sizeof(out)), -1);
    assert_int_equal(pitr_sched_backup_name("x", T0, out, sizeof(out)), 0);
    assert_string_equal(out, "x-20261203040000");
}

static void sched_deadline_passed__per_phase(void **state)
{
    (void)state;
    assert_false(pitr_sched_deadline_passed("running", T0, T0 + PITR_SCHED_DEADLINE_RUNNING));
    assert_true(pitr_sched_deadline_passed("running", T0, T0 + PITR_SCHED_DEADLINE_RUNNING + 1));
    assert_true(pitr_sched_deadline_passed("started", T0, T0 + PITR_SCHED_DEADLINE_STARTED + 1));
    assert_false(pitr_sched_deadline_passed("started", T0, T0 + 60));
    assert_true(pitr_sched_deadline_passed("pending", T0, T0 + PITR_SCHED_DEADLINE_PENDING + 1));
    assert_true(pitr_sched_deadline_passed("", T0, T0 + PITR_SCHED_DEADLINE_PENDING + 1));
    assert_false(pitr_sched_deadline_passed("completed", T0, T0 + 100000000));
    assert_false(pitr_sched_deadline_passed("failed", T0, T0 + 100000000));
}

static void sched_owner_parse__kinds(void **state)
{
    enum pitr_sched_owner o;

    (void)state;
    assert_int_equal(pitr_sched_owner_parse(NULL, &o), 0);
    assert_int_equal(o, PITR_SCHED_OWNER_NONE);
    assert_int_equal(pitr_sched_owner_parse("self", &o), 0);
    assert_int_equal(o, PITR_SCHED_OWNER_SELF);
    assert_int_equal(pitr_sched_owner_parse("cluster", &o), 0);
    assert_int_equal(o, PITR_SCHED_OWNER_CLUSTER);
    assert_int_equal(pitr_sched_owner_parse("Self", &o), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sched_decide__immediate_on_first_sight),
        cmocka_unit_test(sched_decide__first_sight_without_immediate_only_records_check),
        cmocka_unit_test(sched_decide__not_due_before_slot),
        cmocka_unit_test(sched_decide__name_from_slot_not_from_now),
        cmocka_unit_test(sched_decide__one_catch_up_after_downtime),
        cmocka_unit_test(sched_decide__adopts_backup_left_by_crash),
        cmocka_unit_test(sched_decide__adopts_oldest_immediate_backup),
        cmocka_unit_test(sched_decide__waits_while_child_not_done),
        cmocka_unit_test(sched_decide__refuses_name_held_by_other_object),
        cmocka_unit_test(sched_decide__suspend_does_nothing),
        cmocka_unit_test(sched_decide__no_next_activation),
        cmocka_unit_test(sched_backup_name__too_long_fails),
        cmocka_unit_test(sched_deadline_passed__per_phase),
        cmocka_unit_test(sched_owner_parse__kinds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
