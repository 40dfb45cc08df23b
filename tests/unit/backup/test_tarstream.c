/*
 * test_tarstream.c - unit tests for src/backup/tarstream.c: the tar volumes
 * a walk produces, read back with libarchive, for every backup codec;
 * volume splitting at the size limit; the manifest entries; files that
 * shrink or vanish; a failing sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <bzlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../support/snapcheck.h"
#include "pgpitr/backup/sink.h"
#include "pgpitr/backup/tarstream.h"
#include "pgpitr/backup/walker.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"

/* ---- a sink that keeps committed objects in memory ------------------------------ */

#define MAX_OBJ 64

struct mem_sink {
    struct pitr_sink base;
    char *keys[MAX_OBJ];
    struct pitr_buf bodies[MAX_OBJ];
    int n;
    char *open_key;
    struct pitr_buf cur;
    int aborts;
    int fail_commit; /* fail the commit of this object number (1-based); 0: never */
    int commits;
};

static pitr_rc ms_open(struct pitr_sink *s, const char *key, struct pitr_err *err)
{
    struct mem_sink *m = (struct mem_sink *)s;

    (void)err;
    assert_null(m->open_key);
    m->open_key = pitr_strdup(key);
    pitr_buf_init(&m->cur, (size_t)1 << 30);
    return PITR_OK;
}

static pitr_rc ms_write(struct pitr_sink *s, const void *p, size_t n, struct pitr_err *err)
{
    struct mem_sink *m = (struct mem_sink *)s;

    assert_non_null(m->open_key);
    return pitr_buf_append(&m->cur, p, n, err);
}

static void ms_abort(struct pitr_sink *s)
{
    struct mem_sink *m = (struct mem_sink *)s;

    if (m->open_key != NULL)
        m->aborts++;
    pitr_free(m->open_key);
    m->open_key = NULL;
    pitr_buf_release(&m->cur);
}

static pitr_rc ms_commit(struct pitr_sink *s, struct pitr_err *err)
{
    struct mem_sink *m = (struct mem_sink *)s;

    assert_non_null(m->open_key);
    if (++m->commits == m->fail_commit)
        return pitr_err_set(err, PITR_ES3, "simulated upload failure");
    assert_true(m->n < MAX_OBJ);
    m->keys[m->n] = m->open_key;
    m->bodies[m->n++] = m->cur;
    m->open_key = NULL;
    pitr_buf_init(&m->cur, 0);
    return PITR_OK;
}

static void ms_free(struct pitr_sink *s)
{
    (void)s;
}

static const struct pitr_sink_ops ms_ops = { ms_open, ms_write, ms_commit, ms_abort, ms_free };

static void ms_init(struct mem_sink *m)
{
    memset(m, 0, sizeof(*m));
    m->base.ops = &ms_ops;
}

static void ms_release(struct mem_sink *m)
{
    int i;

    ms_abort(&m->base);
    for (i = 0; i < m->n; i++) {
        pitr_free(m->keys[i]);
        pitr_buf_release(&m->bodies[i]);
    }
}

/* ---- fixture: a small tree ------------------------------------------------------- */

struct fx {
    char dir[64];
};

static void put_bytes(const char *path, size_t n, unsigned seed)
{
    FILE *f = fopen(path, "w");
    size_t i;

    assert_non_null(f);
    /* Half-compressible content: runs of a byte, then noise. */
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        fputc((i / 64) % 2 ? (int)(seed >> 16) & 0xff : 'a' + (int)(i % 7), f);
    }
    fclose(f);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    char p[256];

    snprintf(fx->dir, sizeof(fx->dir), "/tmp/pitr-tar.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(p, sizeof(p), "%s/base", fx->dir);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/PG_VERSION", fx->dir);
    put_bytes(p, 3, 1);
    snprintf(p, sizeof(p), "%s/base/big1", fx->dir);
    put_bytes(p, 300000, 2);
    snprintf(p, sizeof(p), "%s/base/big2", fx->dir);
    put_bytes(p, 200000, 3);
    snprintf(p, sizeof(p), "%s/base/empty", fx->dir);
    put_bytes(p, 0, 4);
    snprintf(p, sizeof(p), "%s/base/small", fx->dir);
    put_bytes(p, 1000, 5);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static pitr_rc add_entry(const struct pitr_walk_entry *e, void *ud, struct pitr_err *err)
{
    return pitr_tarstream_add(ud, e, err);
}

/* Read one volume: "name size sha256-prefix" lines into out; returns entries. */
static int read_volume(const struct pitr_buf *body, struct pitr_buf *out)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    struct pitr_err err = { 0 };
    int n = 0, r;

    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    assert_int_equal(archive_read_open_memory(a, body->data, body->len), ARCHIVE_OK);
    while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        struct pitr_sha256 h;
        unsigned char d[PITR_SHA256_LEN];
        char hex[65];
        char buf[65536];
        la_ssize_t got;

        assert_int_equal(archive_format(a), ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
        assert_int_equal(pitr_sha256_init(&h, &err), PITR_OK);
        while ((got = archive_read_data(a, buf, sizeof(buf))) > 0)
            assert_int_equal(pitr_sha256_update(&h, buf, (size_t)got, &err), PITR_OK);
        assert_true(got == 0);
        assert_int_equal(pitr_sha256_final(&h, d, &err), PITR_OK);
        pitr_sha256_release(&h);
        pitr_hex_encode(d, sizeof(d), hex);
        assert_int_equal(pitr_buf_appendf(out,
                                          &err,
                                          "%s %lld %.8s\n",
                                          archive_entry_pathname(ae),
                                          (long long)archive_entry_size(ae),
                                          hex),
                         PITR_OK);
        n++;
    }
    assert_int_equal(r, ARCHIVE_EOF);
    archive_read_free(a);
    return n;
}

/*
 * A gzip volume is ONE member and a bzip2 volume ONE stream, however many
 * chunks it was compressed in: one zlib inflate / libbz2 decompress ends
 * exactly at the end of the body.
 */
static void expect_one_stream(enum pitr_codec codec, const struct pitr_buf *body)
{
    static char sink[1 << 16];

    if (codec == PITR_CODEC_GZIP) {
        z_stream zs;
        int zrc;

        memset(&zs, 0, sizeof(zs));
        assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
        zs.next_in = (unsigned char *)body->data;
        zs.avail_in = (uInt)body->len;
        do {
            zs.next_out = (unsigned char *)sink;
            zs.avail_out = sizeof(sink);
            zrc = inflate(&zs, Z_NO_FLUSH);
        } while (zrc == Z_OK);
        assert_int_equal(zrc, Z_STREAM_END);
        assert_int_equal(zs.avail_in, 0);
        inflateEnd(&zs);
    } else if (codec == PITR_CODEC_BZIP2) {
        bz_stream bz;
        int brc;

        memset(&bz, 0, sizeof(bz));
        assert_int_equal(BZ2_bzDecompressInit(&bz, 0, 0), BZ_OK);
        bz.next_in = body->data;
        bz.avail_in = (unsigned)body->len;
        do {
            bz.next_out = sink;
            bz.avail_out = sizeof(sink);
            brc = BZ2_bzDecompress(&bz);
        } while (brc == BZ_OK);
        assert_int_equal(brc, BZ_STREAM_END);
        assert_int_equal(bz.avail_in, 0);
        BZ2_bzDecompressEnd(&bz);
    }
}

/*
 * Python's tarfile in stream mode (what barman-cloud-restore uses) reads the
 * volume to its end: prints the number of members, or fails.
 */
static int python_stream_members(enum pitr_codec codec, const struct pitr_buf *body)
{
    char path[] = "/tmp/pitr-ts-XXXXXX", cmd[512];
    const char *mode = codec == PITR_CODEC_GZIP    ? "r|gz"
                       : codec == PITR_CODEC_BZIP2 ? "r|bz2"
                                                   : "r|";
    FILE *f;
    int fd, n = -1;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, body->data, body->len), (ssize_t)body->len);
    close(fd);
    snprintf(cmd,
             sizeof(cmd),
             "python3 -c 'import sys, tarfile\n"
             "n = 0\n"
             "with tarfile.open(sys.argv[1], mode=\"%s\") as t:\n"
             "    for m in t:\n"
             "        n += 1\n"
             "        if m.isfile(): t.extractfile(m).read()\n"
             "print(n)' %s",
             mode,
             path);
    f = popen(cmd, "r");
    assert_non_null(f);
    if (fscanf(f, "%d", &n) != 1)
        n = -1;
    assert_int_equal(pclose(f), 0);
    unlink(path);
    return n;
}

static void run_codec(struct fx *fx, enum pitr_codec codec, const char *suffix)
{
    struct mem_sink ms;
    struct pitr_tarstream_opts o = { 0 };
    struct pitr_tarstream *ts = NULL;
    struct pitr_walk_opts w = { 0 };
    struct pitr_err err = { 0 };
    struct pitr_buf listing;
    const struct pitr_manifest_file *files;
    size_t nfiles, i;
    char want[64];
    int entries = 0;

    ms_init(&ms);
    o.sink = &ms.base;
    o.key_prefix = "srv/base/20240101T000000/";
    o.codec = codec;
    o.jobs = 2;
    o.max_volume = (uint64_t)1 << 30;
    o.chunk_size = 16384; /* many chunks, joined into one member/stream */
    assert_int_equal(pitr_tarstream_new(&o, &ts, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_begin(ts, "data", &err), PITR_OK);
    w.root = fx->dir;
    w.kind = PITR_WALK_PGDATA;
    assert_int_equal(pitr_walk(&w, add_entry, ts, &err), PITR_OK);
    assert_int_equal(
      pitr_tarstream_add_bytes(ts, "backup_label", "LABEL\n", 6, 0644, 0, 0, 0, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_end(ts, &err), PITR_OK);

    assert_int_equal(ms.n, 1);
    snprintf(want, sizeof(want), "srv/base/20240101T000000/data.tar%s", suffix);
    assert_string_equal(ms.keys[0], want);
    pitr_buf_init(&listing, 1 << 20);
    if (codec == PITR_CODEC_SNAPPY) {
        /* ONE framing stream (libarchive has no snappy framing: decode it first). */
        struct pitr_buf tar;

        pitr_buf_init(&tar, 64 << 20);
        pitr_test_snappy_one_stream(ms.bodies[0].data, ms.bodies[0].len, &tar);
        entries = read_volume(&tar, &listing);
        pitr_buf_release(&tar);
    } else {
        entries = read_volume(&ms.bodies[0], &listing);
    }
    assert_int_equal(entries, 8);
    expect_one_stream(codec, &ms.bodies[0]);
    if (codec == PITR_CODEC_GZIP || codec == PITR_CODEC_BZIP2 || codec == PITR_CODEC_NONE)
        assert_int_equal(python_stream_members(codec, &ms.bodies[0]), 8);
    files = pitr_tarstream_files(ts, &nfiles);
    assert_int_equal(nfiles, 6);
    /* Every file's manifest line matches what the tar holds. */
    for (i = 0; i < nfiles; i++) {
        char line[256];

        snprintf(line,
                 sizeof(line),
                 "%s %llu %.8s\n",
                 files[i].path,
                 (unsigned long long)files[i].size,
                 files[i].sha256);
        assert_non_null(strstr(listing.data, line));
        assert_string_equal(files[i].volume, want + strlen("srv/base/20240101T000000/"));
    }
    assert_true(strncmp(listing.data, "./ 0 ", 5) == 0); /* the root entry comes first */
    assert_non_null(strstr(listing.data, "./PG_VERSION 3 "));
    assert_non_null(strstr(listing.data, "base/ 0 "));
    assert_non_null(strstr(listing.data, "base/big1 300000 "));
    /* backup_label is the last member. */
    assert_non_null(strstr(listing.data, "backup_label 6 "));
    assert_null(strstr(strstr(listing.data, "backup_label 6 "), "\nbase"));
    pitr_buf_release(&listing);
    pitr_tarstream_free(ts);
    assert_int_equal(ms.aborts, 0);
    ms_release(&ms);
}

static void tarstream__gzip_volume_reads_back(void **state)
{
    run_codec(*state, PITR_CODEC_GZIP, ".gz");
}

static void tarstream__zstd_volume_reads_back(void **state)
{
    run_codec(*state, PITR_CODEC_ZSTD, ".zst");
}

static void tarstream__lz4_volume_reads_back(void **state)
{
    run_codec(*state, PITR_CODEC_LZ4, ".lz4");
}

static void tarstream__bzip2_volume_reads_back(void **state)
{
    run_codec(*state, PITR_CODEC_BZIP2, ".bz2");
}

static void tarstream__snappy_volume_reads_back(void **state)
{
    run_codec(*state, PITR_CODEC_SNAPPY, ".snappy");
}

static void tarstream__uncompressed_volume_reads_back(void **state)
{
    run_codec(*state, PITR_CODEC_NONE, "");
}

static void split_with(struct fx *fx, enum pitr_codec codec)
{
    struct mem_sink ms;
    struct pitr_tarstream_opts o = { 0 };
    struct pitr_tarstream *ts = NULL;
    struct pitr_walk_opts w = { 0 };
    struct pitr_err err = { 0 };
    struct pitr_buf all;
    const char *const *vols;
    size_t nvols;
    int i, entries = 0;

    ms_init(&ms);
    o.sink = &ms.base;
    o.key_prefix = "p/";
    o.codec = codec;
    o.jobs = 2;
    o.max_volume = 100000;
    o.chunk_size = 8192;
    assert_int_equal(pitr_tarstream_new(&o, &ts, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_begin(ts, "16384", &err), PITR_OK);
    w.root = fx->dir;
    w.kind = PITR_WALK_PGDATA;
    assert_int_equal(pitr_walk(&w, add_entry, ts, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_end(ts, &err), PITR_OK);
    assert_true(ms.n >= 2);
    vols = pitr_tarstream_volumes(ts, &nvols);
    assert_int_equal((int)nvols, ms.n);
    pitr_buf_init(&all, 1 << 20);
    for (i = 0; i < ms.n; i++) {
        char want[64];

        if (i == 0)
            snprintf(want, sizeof(want), "p/16384.tar%s", pitr_codec_suffix(codec));
        else
            snprintf(want, sizeof(want), "p/16384_%04d.tar%s", i, pitr_codec_suffix(codec));
        assert_string_equal(ms.keys[i], want);
        assert_string_equal(vols[i], want + 2);
        /* Every volume is a complete tar of its own (snappy: in ONE framing stream)... */
        if (codec == PITR_CODEC_SNAPPY) {
            struct pitr_buf tar;

            pitr_buf_init(&tar, 64 << 20);
            pitr_test_snappy_one_stream(ms.bodies[i].data, ms.bodies[i].len, &tar);
            entries += read_volume(&tar, &all);
            pitr_buf_release(&tar);
        } else {
            entries += read_volume(&ms.bodies[i], &all);
        }
        /* ...and only the one that crossed the limit may be larger, by its last file. */
        if (i < ms.n - 1)
            assert_true(ms.bodies[i].len > 100000 || i == ms.n - 1);
    }
    assert_int_equal(entries, 7);
    /* The file that crossed the limit starts the next volume; nothing is split or lost. */
    assert_non_null(strstr(all.data, "base/big1 300000 "));
    assert_non_null(strstr(all.data, "base/big2 200000 "));
    assert_non_null(strstr(all.data, "base/small 1000 "));
    pitr_buf_release(&all);
    pitr_tarstream_free(ts);
    ms_release(&ms);
}

static void tarstream__splits_volumes_past_max_size_gzip(void **state)
{
    split_with(*state, PITR_CODEC_GZIP);
}

static void tarstream__splits_volumes_past_max_size_snappy(void **state)
{
    split_with(*state, PITR_CODEC_SNAPPY);
}

static void tarstream__splits_volumes_past_max_size_none(void **state)
{
    split_with(*state, PITR_CODEC_NONE);
}

static void tarstream__shrunk_file_padded_vanished_skipped(void **state)
{
    struct fx *fx = *state;
    struct mem_sink ms;
    struct pitr_tarstream_opts o = { 0 };
    struct pitr_tarstream *ts = NULL;
    struct pitr_walk_entry e;
    struct pitr_err err = { 0 };
    struct pitr_buf listing;
    char path[256], gone[256];
    const struct pitr_manifest_file *files;
    size_t n;
    unsigned char zeros[5000] = { 0 };
    char hex[65];

    ms_init(&ms);
    o.sink = &ms.base;
    o.key_prefix = "";
    o.codec = PITR_CODEC_GZIP;
    o.jobs = 1;
    o.max_volume = (uint64_t)1 << 30;
    assert_int_equal(pitr_tarstream_new(&o, &ts, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_begin(ts, "data", &err), PITR_OK);
    /* A file whose lstat() said 5000 bytes but which is now empty. */
    snprintf(path, sizeof(path), "%s/base/empty", fx->dir);
    memset(&e, 0, sizeof(e));
    assert_int_equal(lstat(path, &e.st), 0);
    e.st.st_size = 5000;
    e.type = PITR_WALK_FILE;
    e.path = path;
    e.name = "base/shrunk";
    assert_int_equal(pitr_tarstream_add(ts, &e, &err), PITR_OK);
    snprintf(gone, sizeof(gone), "%s/base/gone", fx->dir);
    e.path = gone;
    e.name = "base/gone";
    assert_int_equal(pitr_tarstream_add(ts, &e, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_end(ts, &err), PITR_OK);
    files = pitr_tarstream_files(ts, &n);
    assert_int_equal(n, 1);
    assert_int_equal(pitr_sha256_hex(zeros, sizeof(zeros), hex, &err), PITR_OK);
    assert_string_equal(files[0].sha256, hex);
    pitr_buf_init(&listing, 1 << 16);
    assert_int_equal(read_volume(&ms.bodies[0], &listing), 1);
    {
        char line[64];

        /* Padded with zeros to the size in the header: the tar holds 5000 zero bytes. */
        snprintf(line, sizeof(line), "base/shrunk 5000 %.8s\n", hex);
        assert_string_equal(listing.data, line);
    }
    pitr_buf_release(&listing);
    pitr_tarstream_free(ts);
    ms_release(&ms);
}

static void tarstream__failed_commit_surfaces_and_aborts(void **state)
{
    struct fx *fx = *state;
    struct mem_sink ms;
    struct pitr_tarstream_opts o = { 0 };
    struct pitr_tarstream *ts = NULL;
    struct pitr_walk_opts w = { 0 };
    struct pitr_err err = { 0 };
    pitr_rc rc;

    ms_init(&ms);
    ms.fail_commit = 1;
    o.sink = &ms.base;
    o.key_prefix = "p/";
    o.codec = PITR_CODEC_ZSTD;
    o.jobs = 2;
    o.max_volume = 50000;
    o.chunk_size = 8192;
    assert_int_equal(pitr_tarstream_new(&o, &ts, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_begin(ts, "data", &err), PITR_OK);
    w.root = fx->dir;
    w.kind = PITR_WALK_PGDATA;
    rc = pitr_walk(&w, add_entry, ts, &err);
    if (rc == PITR_OK)
        rc = pitr_tarstream_end(ts, &err);
    assert_int_equal(rc, PITR_ES3);
    assert_non_null(strstr(err.msg, "simulated upload failure"));
    pitr_tarstream_free(ts);
    assert_int_equal(ms.n, 0); /* nothing was committed after the failure */
    assert_null(ms.open_key);  /* and whatever was open got aborted */
    ms_release(&ms);
}

static void tarstream__free_mid_stream_aborts_open_volume(void **state)
{
    struct fx *fx = *state;
    struct mem_sink ms;
    struct pitr_tarstream_opts o = { 0 };
    struct pitr_tarstream *ts = NULL;
    struct pitr_walk_opts w = { 0 };
    struct pitr_err err = { 0 };

    ms_init(&ms);
    o.sink = &ms.base;
    o.key_prefix = "p/";
    o.codec = PITR_CODEC_LZ4;
    o.jobs = 2;
    o.max_volume = (uint64_t)1 << 30;
    assert_int_equal(pitr_tarstream_new(&o, &ts, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_begin(ts, "data", &err), PITR_OK);
    w.root = fx->dir;
    w.kind = PITR_WALK_PGDATA;
    assert_int_equal(pitr_walk(&w, add_entry, ts, &err), PITR_OK);
    pitr_tarstream_free(ts);   /* as after PostgreSQL failing mid-backup */
    assert_int_equal(ms.n, 0); /* nothing committed */
    assert_null(ms.open_key);  /* nothing left open: aborted, or never opened */
    assert_true(ms.aborts <= 1);
    ms_release(&ms);
}

/* A reader over a memory span, in pieces of at most 7 bytes; fails when fail is set. */
struct span_reader {
    const char *p;
    size_t left;
    int fail;
};

static pitr_rc read_span(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err)
{
    struct span_reader *sr = ud;
    size_t n = sr->left < cap ? sr->left : cap;

    if (sr->fail)
        return pitr_err_set(err, PITR_EFORMAT, "span reader broke");
    if (n > 7)
        n = 7;
    memcpy(p, sr->p, n);
    sr->p += n;
    sr->left -= n;
    *got = n;
    return PITR_OK;
}

static void tarstream__add_from_reads_callback_pads_and_fails(void **state)
{
    struct mem_sink ms;
    struct pitr_tarstream_opts o = { 0 };
    struct pitr_tarstream *ts = NULL;
    struct pitr_walk_entry e;
    struct pitr_err err = { 0 };
    struct pitr_buf listing;
    struct span_reader sr = { "hello, re-packed world", 22, 0 };
    char want[256], hex1[65], hex2[65], padded[30] = "short";
    const struct pitr_manifest_file *files;
    size_t n;

    (void)state;
    ms_init(&ms);
    o.sink = &ms.base;
    o.key_prefix = "k/";
    o.codec = PITR_CODEC_NONE;
    o.jobs = 1;
    o.max_volume = (uint64_t)1 << 30;
    assert_int_equal(pitr_tarstream_new(&o, &ts, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_begin(ts, "16385", &err), PITR_OK);
    memset(&e, 0, sizeof(e));
    e.type = PITR_WALK_FILE;
    e.path = "server tar member"; /* never opened */
    e.name = "PG_15_1/5/1";
    e.st.st_mode = 0600;
    e.st.st_size = 22;
    e.st.st_mtim.tv_nsec = 5; /* sub-second times make libarchive write PAX headers */
    assert_int_equal(pitr_tarstream_add_from(ts, &e, read_span, &sr, &err), PITR_OK);
    /* A source shorter than its header's size is padded with zeros. */
    sr.p = "short";
    sr.left = 5;
    e.name = "PG_15_1/5/2";
    e.st.st_size = 30;
    assert_int_equal(pitr_tarstream_add_from(ts, &e, read_span, &sr, &err), PITR_OK);
    assert_int_equal(pitr_tarstream_end(ts, &err), PITR_OK);
    files = pitr_tarstream_files(ts, &n);
    assert_int_equal(n, 2);
    assert_string_equal(files[0].volume, "16385.tar");
    assert_int_equal(pitr_sha256_hex("hello, re-packed world", 22, hex1, &err), PITR_OK);
    assert_int_equal(pitr_sha256_hex(padded, sizeof(padded), hex2, &err), PITR_OK);
    assert_string_equal(files[0].sha256, hex1);
    assert_string_equal(files[1].sha256, hex2);
    assert_int_equal(ms.n, 1);
    assert_string_equal(ms.keys[0], "k/16385.tar");
    pitr_buf_init(&listing, 1 << 16);
    assert_int_equal(read_volume(&ms.bodies[0], &listing), 2);
    snprintf(want, sizeof(want), "PG_15_1/5/1 22 %.8s\nPG_15_1/5/2 30 %.8s\n", hex1, hex2);
    assert_string_equal(listing.data, want);
    pitr_buf_release(&listing);

    /* The reader's error comes back with its message; the open volume is aborted on free. */
    assert_int_equal(pitr_tarstream_begin(ts, "data", &err), PITR_OK);
    sr.fail = 1;
    e.name = "base/1/1";
    assert_int_equal(pitr_tarstream_add_from(ts, &e, read_span, &sr, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "span reader broke"));
    pitr_tarstream_free(ts);
    assert_int_equal(ms.n, 1);
    ms_release(&ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tarstream__add_from_reads_callback_pads_and_fails),
        cmocka_unit_test_setup_teardown(tarstream__gzip_volume_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(tarstream__zstd_volume_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(tarstream__lz4_volume_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(tarstream__bzip2_volume_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(tarstream__snappy_volume_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(tarstream__uncompressed_volume_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(
          tarstream__splits_volumes_past_max_size_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(
          tarstream__splits_volumes_past_max_size_none, setup, teardown),
        cmocka_unit_test_setup_teardown(
          tarstream__splits_volumes_past_max_size_snappy, setup, teardown),
        cmocka_unit_test_setup_teardown(
          tarstream__shrunk_file_padded_vanished_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(
          tarstream__failed_commit_surfaces_and_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(
          tarstream__free_mid_stream_aborts_open_volume, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
