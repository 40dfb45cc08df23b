/* test_rdq.c - unit tests for src/s3/rdq.c (the bounded read-ahead buffers of a ranged reader). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "s3/rdq_int.h"

#define MiB ((size_t)1024 * 1024)

/* Fill b as a finished range would (the reader's get_range: grow, then the body). */
static void fill(struct pitr_buf *b, size_t n)
{
    struct pitr_err err;

    assert_int_equal(pitr_buf_grow(b, n, &err), PITR_OK);
    memset(b->data, 'x', n);
    b->len = n;
    b->data[n] = '\0';
}

static void pitr_s3_rdq_init__default_budget_one_range_per_worker_plus_one(void **state)
{
    struct pitr_s3_rdq q;

    (void)state;
    pitr_s3_rdq_init(&q, 0, 2);
    assert_int_equal(q.slots, 3);
    assert_true(q.chunk >= PITR_S3_READ_CHUNK_MIN);
    assert_int_equal(q.chunk % PITR_S3_READ_CHUNK_ALIGN, 0);
    assert_true(pitr_s3_rdq_bound(&q) <= PITR_S3_READ_AHEAD_DEFAULT);
    assert_true(pitr_s3_rdq_bound(&q) > PITR_S3_READ_AHEAD_DEFAULT - 3 * PITR_S3_READ_CHUNK_ALIGN);
    pitr_s3_rdq_release(&q);
}

static void pitr_s3_rdq_init__small_budget_fewer_slots_never_below_two(void **state)
{
    struct pitr_s3_rdq q;

    (void)state;
    /* 64 workers and 1 MiB: 4 slots of the minimum, not 65 tiny ones. */
    pitr_s3_rdq_init(&q, MiB, 64);
    assert_int_equal(q.chunk, PITR_S3_READ_CHUNK_MIN);
    assert_int_equal(q.slots, 4);
    assert_true(pitr_s3_rdq_bound(&q) <= MiB);
    pitr_s3_rdq_release(&q);
    /* A budget below two minimal ranges still reads: 2 slots. */
    pitr_s3_rdq_init(&q, 1000, 0);
    assert_int_equal(q.slots, 2);
    assert_int_equal(q.chunk, PITR_S3_READ_CHUNK_MIN);
    pitr_s3_rdq_release(&q);
}

static void pitr_s3_rdq_take__never_more_than_the_budget(void **state)
{
    struct pitr_s3_rdq q;
    struct pitr_buf *held[64];
    size_t n = 0, budget = 6 * MiB;

    (void)state;
    pitr_s3_rdq_init(&q, budget, 5);
    /* Take until refused: exactly slots buffers, each full to its limit. */
    while ((held[n] = pitr_s3_rdq_take(&q)) != NULL) {
        assert_true(n < 64);
        fill(held[n], q.chunk);
        assert_true(held[n]->cap <= q.chunk + 1);
        n++;
    }
    assert_int_equal(n, q.slots);
    assert_int_equal(n, 6);
    /* A buffer never grows past its chunk (a server sending more is refused). */
    {
        struct pitr_err err;

        assert_int_equal(pitr_buf_grow(held[0], 1, &err), PITR_ELIMIT);
    }
    for (size_t i = 0; i < n; i++)
        pitr_s3_rdq_give(&q, held[i]);
    assert_true(pitr_s3_rdq_allocated(&q) <= budget + q.slots);
    pitr_s3_rdq_release(&q);
}

static void pitr_s3_rdq_give__buffers_are_reused_not_reallocated(void **state)
{
    struct pitr_s3_rdq q;
    struct pitr_buf *a, *b, *c, *first[3];
    size_t peak = 0;

    (void)state;
    pitr_s3_rdq_init(&q, 3 * MiB, 2);
    first[0] = pitr_s3_rdq_take(&q);
    first[1] = pitr_s3_rdq_take(&q);
    first[2] = pitr_s3_rdq_take(&q);
    assert_null(pitr_s3_rdq_take(&q));
    for (int i = 0; i < 3; i++)
        fill(first[i], q.chunk);
    /* A reader's steady state over a long object: give the oldest, take one. */
    a = first[0];
    b = first[1];
    c = first[2];
    for (int round = 0; round < 1000; round++) {
        struct pitr_buf *n;
        size_t now;

        pitr_s3_rdq_give(&q, a);
        assert_int_equal(a->len, 0);
        n = pitr_s3_rdq_take(&q);
        assert_ptr_equal(n, a); /* the same buffer, its memory kept */
        assert_null(pitr_s3_rdq_take(&q));
        fill(n, round % 2 ? q.chunk : q.chunk / 3);
        a = b;
        b = c;
        c = n;
        assert_int_equal(q.made, 3);
        now = a->cap + b->cap + c->cap;
        if (now > peak)
            peak = now;
    }
    assert_true(peak <= pitr_s3_rdq_bound(&q) + q.slots);
    pitr_s3_rdq_give(&q, a);
    pitr_s3_rdq_give(&q, b);
    pitr_s3_rdq_give(&q, c);
    pitr_s3_rdq_give(&q, NULL);
    assert_int_equal(q.n_spare, 3);
    pitr_s3_rdq_release(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_s3_rdq_init__default_budget_one_range_per_worker_plus_one),
        cmocka_unit_test(pitr_s3_rdq_init__small_budget_fewer_slots_never_below_two),
        cmocka_unit_test(pitr_s3_rdq_take__never_more_than_the_budget),
        cmocka_unit_test(pitr_s3_rdq_give__buffers_are_reused_not_reallocated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
