/* snapframe.c - streaming reader of snappy's framing format; see snapframe.h. */
#include <inttypes.h>
#include <snappy-c.h>
#include <string.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/restore/snapframe.h"

#define BLOCK     ((size_t)65536) /* the most data one chunk holds */
#define READ_SIZE ((size_t)256 * 1024)

/* The stream identifier chunk: type 0xff, length 6, "sNaPpY". */
static const unsigned char stream_id[10] = { 0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y' };

/* The longest data chunk payload: CRC and a 64 KiB block at its worst. */
static size_t max_data_len(void)
{
    return 4 + snappy_max_compressed_length(BLOCK);
}

void pitr_snapframe_init(struct pitr_snapframe *s, pitr_snapframe_source src, void *ud)
{
    memset(s, 0, sizeof(*s));
    s->src = src;
    s->ud = ud;
    /* A whole data chunk (header, CRC, compressed block) fits next to a read. */
    s->cap = READ_SIZE + 4 + max_data_len();
    s->raw = pitr_malloc(s->cap);
    s->piece = pitr_malloc(sizeof(stream_id) + 4 + max_data_len());
    pitr_buf_init(&s->out, BLOCK);
}

void pitr_snapframe_release(struct pitr_snapframe *s)
{
    pitr_free(s->raw);
    pitr_free(s->piece);
    s->raw = NULL;
    s->piece = NULL;
    pitr_buf_release(&s->out);
}

/* Have at least want unused bytes buffered, or all that is left (*short_). */
static pitr_rc fill(struct pitr_snapframe *s, size_t want, int *short_, struct pitr_err *err)
{
    *short_ = 0;
    if (s->len - s->pos >= want)
        return PITR_OK;
    memmove(s->raw, s->raw + s->pos, s->len - s->pos);
    s->len -= s->pos;
    s->pos = 0;
    while (s->len < want && !s->src_end) {
        size_t got = 0, room = s->cap - s->len;
        pitr_rc rc = s->src(s->ud, s->raw + s->len, room < READ_SIZE ? room : READ_SIZE, &got, err);

        if (rc != PITR_OK)
            return rc;
        if (got == 0)
            s->src_end = 1;
        s->len += got;
    }
    *short_ = s->len < want;
    return PITR_OK;
}

static pitr_rc truncated(const struct pitr_snapframe *s, struct pitr_err *err)
{
    return pitr_err_set(
      err, PITR_EFORMAT, "snappy stream is truncated at offset %" PRIu64, s->offset);
}

/* Drop n bytes of a padding or skippable chunk, buffered or not. */
static pitr_rc skip(struct pitr_snapframe *s, size_t n, struct pitr_err *err)
{
    while (n > 0) {
        size_t have = s->len - s->pos, take;
        int short_;
        pitr_rc rc;

        if (have == 0) {
            rc = fill(s, 1, &short_, err);
            if (rc != PITR_OK)
                return rc;
            if (short_)
                return truncated(s, err);
            have = s->len - s->pos;
        }
        take = have < n ? have : n;
        s->pos += take;
        s->offset += take;
        n -= take;
    }
    return PITR_OK;
}

pitr_rc pitr_snapframe_next(struct pitr_snapframe *s,
                            const void **data,
                            size_t *n,
                            struct pitr_err *err)
{
    *data = NULL;
    *n = 0;
    for (;;) {
        const unsigned char *h;
        unsigned type;
        size_t len;
        int short_;
        pitr_rc rc = fill(s, 4, &short_, err);

        if (rc != PITR_OK)
            return rc;
        if (s->len == s->pos) {
            if (!s->seen_id)
                return pitr_err_set(err, PITR_EFORMAT, "empty snappy stream");
            return PITR_OK;
        }
        if (short_)
            return truncated(s, err);
        h = s->raw + s->pos;
        type = h[0];
        len = (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16;
        if (type == 0xff) {
            if (len == 6) {
                rc = fill(s, sizeof(stream_id), &short_, err);
                if (rc != PITR_OK)
                    return rc;
                if (short_)
                    return truncated(s, err);
            }
            if (len != 6 || memcmp(s->raw + s->pos, stream_id, sizeof(stream_id)) != 0)
                return pitr_err_set(
                  err, PITR_EFORMAT, "bad snappy stream identifier at offset %" PRIu64, s->offset);
            s->seen_id = 1;
            s->pos += 10;
            s->offset += 10;
            continue;
        }
        if (!s->seen_id)
            return pitr_err_set(
              err, PITR_EFORMAT, "snappy stream does not start with an identifier");
        if (type >= 0x80) { /* padding and skippable chunks */
            s->pos += 4;
            s->offset += 4;
            rc = skip(s, len, err);
            if (rc != PITR_OK)
                return rc;
            continue;
        }
        if (type > 0x01)
            return pitr_err_set(err,
                                PITR_EFORMAT,
                                "reserved snappy chunk type 0x%02x at offset %" PRIu64,
                                type,
                                s->offset);
        if (len > max_data_len())
            return pitr_err_set(err,
                                PITR_EFORMAT,
                                "snappy chunk of %zu bytes at offset %" PRIu64
                                " exceeds the %zu a 64 KiB block needs",
                                len,
                                s->offset,
                                max_data_len());
        rc = fill(s, 4 + len, &short_, err);
        if (rc != PITR_OK)
            return rc;
        if (short_)
            return truncated(s, err);
        /* The codec checks and decodes one chunk given as a stream of its own. */
        memcpy(s->piece, stream_id, sizeof(stream_id));
        memcpy(s->piece + sizeof(stream_id), s->raw + s->pos, 4 + len);
        pitr_buf_reset(&s->out);
        rc = pitr_codec_decompress(
          PITR_CODEC_SNAPPY, s->piece, sizeof(stream_id) + 4 + len, &s->out, err);
        if (rc != PITR_OK)
            return pitr_err_prefix(err, "snappy chunk at offset %" PRIu64, s->offset);
        s->pos += 4 + len;
        s->offset += 4 + len;
        if (s->out.len == 0)
            continue;
        *data = s->out.data;
        *n = s->out.len;
        return PITR_OK;
    }
}
