/* rdq.c - the read-ahead buffers of a ranged reader under a byte budget; see s3/rdq_int.h. */
#include "s3/rdq_int.h"

#include <string.h>

#include "pgpitr/core/mem.h"

void pitr_s3_rdq_init(struct pitr_s3_rdq *q, size_t budget, unsigned workers)
{
    size_t slots;

    memset(q, 0, sizeof(*q));
    if (budget == 0)
        budget = PITR_S3_READ_AHEAD_DEFAULT;
    if (workers == 0)
        workers = 1;
    slots = (size_t)workers + 1;
    q->chunk = budget / slots / PITR_S3_READ_CHUNK_ALIGN * PITR_S3_READ_CHUNK_ALIGN;
    if (q->chunk < PITR_S3_READ_CHUNK_MIN) {
        q->chunk = PITR_S3_READ_CHUNK_MIN;
        slots = budget / PITR_S3_READ_CHUNK_MIN;
        if (slots < 2)
            slots = 2;
    }
    q->slots = (unsigned)slots;
    q->spare = pitr_calloc(q->slots, sizeof(*q->spare));
}

struct pitr_buf *pitr_s3_rdq_take(struct pitr_s3_rdq *q)
{
    struct pitr_buf *b;

    if (q->n_spare > 0)
        return q->spare[--q->n_spare];
    if (q->made >= q->slots)
        return NULL;
    b = pitr_malloc(sizeof(*b));
    pitr_buf_init(b, q->chunk);
    q->made++;
    return b;
}

void pitr_s3_rdq_give(struct pitr_s3_rdq *q, struct pitr_buf *b)
{
    if (b == NULL)
        return;
    pitr_buf_reset(b);
    q->spare[q->n_spare++] = b;
}

size_t pitr_s3_rdq_bound(const struct pitr_s3_rdq *q)
{
    return (size_t)q->slots * q->chunk;
}

size_t pitr_s3_rdq_allocated(const struct pitr_s3_rdq *q)
{
    size_t n = 0;

    for (unsigned i = 0; i < q->n_spare; i++)
        n += q->spare[i]->cap;
    return n;
}

void pitr_s3_rdq_release(struct pitr_s3_rdq *q)
{
    for (unsigned i = 0; i < q->n_spare; i++) {
        pitr_buf_release(q->spare[i]);
        pitr_free(q->spare[i]);
    }
    pitr_free(q->spare);
    memset(q, 0, sizeof(*q));
}
