/* test_partplan.c - unit tests for src/s3/partplan.c (growing part sizes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"
#include "s3/partplan_int.h"

#define MiB ((uint64_t)1024 * 1024)
#define GiB (MiB * 1024)
#define TiB (GiB * 1024)

/* Sum of every part size; checks sizes never shrink and stay within S3's limits. */
static uint64_t total_capacity(const struct pitr_s3_part_plan *plan)
{
    uint64_t total = 0, prev = 0;
    unsigned n;

    for (n = 1; n <= plan->max_parts; n++) {
        uint64_t size = pitr_s3_part_size(plan, n);

        assert_true(size >= PITR_PART_SIZE_MIN);
        assert_true(size <= PITR_PART_SIZE_MAX);
        assert_true(size >= prev);
        prev = size;
        total += size;
    }
    return total;
}

static void pitr_s3_part_plan_init__5tib_fits_in_10000_parts(void **state)
{
    struct pitr_s3_part_plan plan;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_part_plan_init(&plan, 16 * MiB, 10000, 0, &err), PITR_OK);
    assert_true(total_capacity(&plan) >= 5 * TiB);
    assert_true(plan.capacity == total_capacity(&plan));
    /* Small objects keep small parts: the first 1000 parts (15.6 GiB) do not grow. */
    assert_true(plan.step >= 1000);
    assert_int_equal(pitr_s3_part_size(&plan, 1), 16 * MiB);
    assert_int_equal(pitr_s3_part_size(&plan, 1000), 16 * MiB);
    /* The smallest allowed part size fits 5 TiB as well. */
    assert_int_equal(pitr_s3_part_plan_init(&plan, 5 * MiB, 10000, 0, &err), PITR_OK);
    assert_true(total_capacity(&plan) >= 5 * TiB);
    assert_int_equal(pitr_s3_part_size(&plan, 1), 5 * MiB);
}

static void pitr_s3_part_plan_init__1000_parts_reach_the_store_limit(void **state)
{
    struct pitr_s3_part_plan plan;
    struct pitr_err err;
    uint64_t cap;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_part_plan_init(&plan, 16 * MiB, 1000, 0, &err), PITR_OK);
    cap = total_capacity(&plan);
    /*
     * 1000 parts of at most 5 GiB hold 4.88 TiB, never 5 TiB: the plan aims
     * at 95% of that maximum, which is more than 5 TB (5 * 10^12 bytes).
     */
    assert_true(cap >= (uint64_t)1000 * PITR_PART_SIZE_MAX / 100 * 95);
    assert_true(cap >= (uint64_t)5000000000000ULL);
    assert_true(cap < 5 * TiB);
    assert_int_equal(pitr_s3_part_size(&plan, 1), 16 * MiB);
    assert_int_equal(pitr_s3_part_size(&plan, 1000), PITR_PART_SIZE_MAX);
    /* That average needs 5 GiB parts early: the growth is much faster than with 10000. */
    assert_true(plan.step < 100);
}

static void pitr_s3_part_plan_init__a_bounded_object_keeps_small_parts(void **state)
{
    struct pitr_s3_part_plan plan, unbounded;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    /* A 100 GB backup volume on a store with 1000 parts (Swift's default). */
    assert_int_equal(pitr_s3_part_plan_init(&plan, 8 * MiB, 1000, 100000000000ULL, &err), PITR_OK);
    assert_int_equal(pitr_s3_part_plan_init(&unbounded, 8 * MiB, 1000, 0, &err), PITR_OK);
    assert_true(total_capacity(&plan) >= 100000000000ULL);
    assert_true(plan.step > 4 * unbounded.step);
    /* The first GiB goes up in 8 MiB parts; without the bound they grow after ~50 parts. */
    assert_int_equal(pitr_s3_part_size(&plan, 128), 8 * MiB);
    assert_true(pitr_s3_part_size(&unbounded, 128) > 8 * MiB);
    /* A bound above what S3 allows changes nothing. */
    assert_int_equal(pitr_s3_part_plan_init(&plan, 8 * MiB, 1000, 6 * TiB, &err), PITR_OK);
    assert_int_equal(plan.step, unbounded.step);
}

static void pitr_s3_part_plan_init__limits(void **state)
{
    struct pitr_s3_part_plan plan;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_part_plan_init(&plan, 5 * MiB - 1, 10000, 0, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "5MiB to 5GiB"));
    assert_int_equal(pitr_s3_part_plan_init(&plan, 5 * GiB + 1, 10000, 0, &err), PITR_EUSAGE);
    assert_int_equal(pitr_s3_part_plan_init(&plan, 16 * MiB, 0, 0, &err), PITR_EUSAGE);
    assert_int_equal(pitr_s3_part_plan_init(&plan, 16 * MiB, 10001, 0, &err), PITR_EUSAGE);
    /* One part: the object can be no larger than that part. */
    assert_int_equal(pitr_s3_part_plan_init(&plan, 5 * GiB, 1, 0, &err), PITR_OK);
    assert_int_equal(plan.capacity, 5 * GiB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_s3_part_plan_init__5tib_fits_in_10000_parts),
        cmocka_unit_test(pitr_s3_part_plan_init__1000_parts_reach_the_store_limit),
        cmocka_unit_test(pitr_s3_part_plan_init__a_bounded_object_keeps_small_parts),
        cmocka_unit_test(pitr_s3_part_plan_init__limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
