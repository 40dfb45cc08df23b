/*
 * partplan_int.h - part sizes of a multipart upload whose length is not
 * known in advance (module-private).
 *
 * A streaming writer does not know how large its object will be, yet S3
 * caps an upload at max_parts parts (10,000 on AWS, 1,000 on some stores)
 * of at most 5 GiB each. The plan starts with parts of min_size and doubles
 * the size every `step` parts (capped at 5 GiB), where step is the largest
 * value that still lets max_parts parts hold the target size: 5 TiB when
 * max_parts * 5 GiB allows it, else 95% of max_parts * 5 GiB (1,000 parts of
 * at most 5 GiB can never hold 5 TiB), or less when the writer knows the
 * object's largest possible size (a backup volume is bounded by
 * --max-archive-size). Small objects so keep small parts, and memory (parts
 * in flight x part size) grows only with the object.
 */
#ifndef PGPITR_S3_PARTPLAN_INT_H
#define PGPITR_S3_PARTPLAN_INT_H

#include <stdint.h>

#include "pgpitr/core/err.h"

#define PITR_S3_MAX_OBJECT ((uint64_t)5 * 1024 * 1024 * 1024 * 1024)

struct pitr_s3_part_plan {
    uint64_t min_size;  /* the first part's size */
    unsigned max_parts; /* part numbers run from 1 to max_parts */
    unsigned step;      /* parts per doubling */
    uint64_t capacity;  /* bytes max_parts parts hold under this plan */
};

/*
 * Plan for parts of at least min_size (5 MiB..5 GiB) and at most max_parts
 * (1..10000) parts, for objects of at most max_object bytes (0: as large as
 * S3 allows); PITR_EUSAGE outside those ranges.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_part_plan_init(struct pitr_s3_part_plan *plan,
                                               uint64_t min_size,
                                               unsigned max_parts,
                                               uint64_t max_object,
                                               struct pitr_err *err);

/* The size of part number n (1-based; n <= max_parts). */
uint64_t pitr_s3_part_size(const struct pitr_s3_part_plan *plan, unsigned n);

#endif
