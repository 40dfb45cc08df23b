/* partplan.c - growing part sizes for streamed multipart uploads; see src/s3/partplan_int.h. */
#include "s3/partplan_int.h"

#include "pgpitr/core/config.h"

static uint64_t size_at(uint64_t min_size, unsigned step, unsigned n)
{
    unsigned doublings = (n - 1) / step;
    uint64_t size = min_size;

    while (doublings-- > 0 && size < PITR_PART_SIZE_MAX)
        size *= 2;
    return size < PITR_PART_SIZE_MAX ? size : PITR_PART_SIZE_MAX;
}

/* Bytes max_parts parts hold when the size doubles every step parts. */
static uint64_t capacity(uint64_t min_size, unsigned max_parts, unsigned step)
{
    uint64_t total = 0;
    unsigned n;

    for (n = 1; n <= max_parts; n++)
        total += size_at(min_size, step, n);
    return total;
}

pitr_rc pitr_s3_part_plan_init(struct pitr_s3_part_plan *plan,
                               uint64_t min_size,
                               unsigned max_parts,
                               uint64_t max_object,
                               struct pitr_err *err)
{
    uint64_t target, most;
    unsigned lo, hi;

    if (min_size < PITR_PART_SIZE_MIN || min_size > PITR_PART_SIZE_MAX)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid part size %llu: S3 parts are 5MiB to 5GiB",
                            (unsigned long long)min_size);
    if (max_parts < 1 || max_parts > PITR_MAX_PARTS_LIMIT)
        return pitr_err_set(
          err, PITR_EUSAGE, "invalid max-parts %u: expected 1 to 10000", max_parts);
    most = (uint64_t)max_parts * PITR_PART_SIZE_MAX;
    target = most >= PITR_S3_MAX_OBJECT ? PITR_S3_MAX_OBJECT : most / 100 * 95;
    if (max_object > 0 && max_object < target)
        target = max_object;
    /* capacity() falls as step grows: find the largest step that still holds target. */
    lo = 1;
    hi = max_parts;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo + 1) / 2;

        if (capacity(min_size, max_parts, mid) >= target)
            lo = mid;
        else
            hi = mid - 1;
    }
    plan->min_size = min_size;
    plan->max_parts = max_parts;
    plan->step = lo;
    plan->capacity = capacity(min_size, max_parts, lo);
    return PITR_OK;
}

uint64_t pitr_s3_part_size(const struct pitr_s3_part_plan *plan, unsigned n)
{
    return size_at(plan->min_size, plan->step, n < 1 ? 1 : n);
}
