/* decode.c - stored WAL objects back to checked files; see wal/decode.h. */
#include "pgpitr/wal/decode.h"

#include "pgpitr/wal/wal.h"

/* Decoding a segment begins with at most this much, to read its page header. */
#define PROBE_LIMIT ((size_t)128 * 1024)

size_t pitr_wal_stored_max(enum pitr_wal_kind kind)
{
    size_t plain =
      kind == PITR_WAL_SEGMENT || kind == PITR_WAL_PARTIAL ? PITR_WAL_SEG_MAX : PITR_WAL_AUX_MAX;

    return plain + plain / 8;
}

pitr_rc pitr_wal_decode(enum pitr_codec codec,
                        const void *raw,
                        size_t n,
                        const struct pitr_wal_name *w,
                        struct pitr_buf *plain,
                        struct pitr_err *err)
{
    struct pitr_buf probe;
    uint32_t seg_size;
    pitr_rc rc;

    pitr_buf_reset(plain);
    if (w->kind != PITR_WAL_SEGMENT && w->kind != PITR_WAL_PARTIAL) {
        plain->limit = PITR_WAL_AUX_MAX;
        rc = pitr_codec_decompress(codec, raw, n, plain, err);
        if (rc == PITR_OK && plain->len == 0)
            rc = pitr_err_set(err, PITR_EFORMAT, "it is empty");
        return rc;
    }
    pitr_buf_init(&probe, PROBE_LIMIT);
    if (codec == PITR_CODEC_NONE) {
        rc = pitr_wal_segment_size(raw, n, &seg_size, err);
    } else {
        /* The decoders keep what they produced up to the limit: the header is in it. */
        rc = pitr_codec_decompress(codec, raw, n, &probe, err);
        if (rc == PITR_OK || rc == PITR_ELIMIT)
            rc = pitr_wal_segment_size(probe.data, probe.len, &seg_size, err);
    }
    pitr_buf_release(&probe);
    if (rc != PITR_OK)
        return rc;
    plain->limit = seg_size;
    rc = pitr_codec_decompress(codec, raw, n, plain, err);
    if (rc == PITR_ELIMIT)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "it decompresses to more than the %u bytes its header announces",
                            seg_size);
    if (rc != PITR_OK)
        return rc;
    return pitr_wal_check_segment(plain->data, plain->len, plain->len, w, &seg_size, err);
}
