/* snapcheck.c - see snapcheck.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/restore/snapframe.h"
#include "snapcheck.h"

struct mem_src {
    const unsigned char *p;
    size_t n, pos;
};

/* Hands out at most 1000 bytes a call, so chunks straddle reads. */
static pitr_rc mem_read(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err)
{
    struct mem_src *m = ud;
    size_t k = m->n - m->pos;

    (void)err;
    if (k > cap)
        k = cap;
    if (k > 1000)
        k = 1000;
    memcpy(p, m->p + m->pos, k);
    m->pos += k;
    *got = k;
    return PITR_OK;
}

size_t pitr_test_snappy_one_stream(const void *z, size_t n, struct pitr_buf *out)
{
    static const unsigned char id[10] = { 0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y' };
    const unsigned char *b = z;
    struct mem_src m = { b, n, 0 };
    struct pitr_snapframe s;
    struct pitr_err err = { 0 };
    size_t off, ids = 0, chunks = 0, data_chunks = 0;

    assert_true(n >= sizeof(id));
    assert_memory_equal(b, id, sizeof(id));
    /* Walk the chunk headers: type(1), length(3, little endian). */
    for (off = 0; off < n;) {
        size_t len;

        assert_true(n - off >= 4);
        len = (size_t)b[off + 1] | (size_t)b[off + 2] << 8 | (size_t)b[off + 3] << 16;
        assert_true(n - off - 4 >= len);
        if (b[off] == 0xff)
            ids++;
        else
            assert_true(b[off] == 0x00 || b[off] == 0x01); /* pgpitr writes data chunks only */
        if (b[off] == 0x01)
            assert_true(len <= 4 + 65536);
        chunks++;
        off += 4 + len;
    }
    assert_int_equal(ids, 1);
    pitr_snapframe_init(&s, mem_read, &m);
    for (;;) {
        const void *d;
        size_t k;

        assert_int_equal(pitr_snapframe_next(&s, &d, &k, &err), PITR_OK);
        if (k == 0)
            break;
        assert_true(k <= 65536);
        assert_int_equal(pitr_buf_append(out, d, k, &err), PITR_OK);
        data_chunks++;
    }
    pitr_snapframe_release(&s);
    assert_int_equal(data_chunks, chunks - 1);
    return data_chunks;
}
