/*
 * pushparts.c - the parts of a wal-push, timed alone (tools/bench/wal-push.sh
 * builds it against build/libpgpitr.a). Not part of the product.
 *
 *   pushparts codec <gzip|zstd> <threads> <file>...
 *       compress each file with pgpitr's own code path (pitr_codec_compress_mt,
 *       default level), then SHA-256 (hex, as x-amz-content-sha256) and MD5
 *       (base64, as Content-MD5) of the result; prints one line per file:
 *       "<compress ms> <sha256 ms> <md5 ms> <in bytes> <out bytes>"
 *   pushparts ingest <threads> <bytes> <count>
 *       <threads> S3 clients (one keep-alive connection each) PUT <count>
 *       objects of <bytes> bytes in all, from the environment
 *       (PITR_TEST_S3_TLS_ENDPOINT, PITR_TEST_BUCKET, PITR_TEST_CA_FILE,
 *       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION); prints
 *       "<wall s> <objects/s> <MiB/s> <mean ms per PUT>".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/clock.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/s3/client.h"

static int codec_main(int argc, char **argv)
{
    enum pitr_codec c;
    struct pitr_err err = { 0 };
    int threads = atoi(argv[1]), i;

    if (pitr_codec_from_name(argv[0], &c, &err) != PITR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    for (i = 2; i < argc; i++) {
        struct pitr_buf in, out;
        char hex[PITR_SHA256_HEX_LEN + 1], md5[PITR_MD5_B64_LEN + 1];
        int64_t t0;
        double zms, hms, mms;

        pitr_buf_init(&in, 64u << 20);
        pitr_buf_init(&out, 72u << 20);
        if (pitr_fs_read_file(argv[i], &in, &err) != PITR_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t0 = pitr_clock_ns();
        if (pitr_codec_compress_mt(c, 0, threads, in.data, in.len, &out, &err) != PITR_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        zms = pitr_clock_ms_since(t0);
        t0 = pitr_clock_ns();
        if (pitr_sha256_hex(out.data, out.len, hex, &err) != PITR_OK)
            return 1;
        hms = pitr_clock_ms_since(t0);
        t0 = pitr_clock_ns();
        if (pitr_md5_base64(out.data, out.len, md5, &err) != PITR_OK)
            return 1;
        mms = pitr_clock_ms_since(t0);
        printf("%.3f %.3f %.3f %zu %zu\n", zms, hms, mms, in.len, out.len);
        pitr_buf_release(&in);
        pitr_buf_release(&out);
    }
    return 0;
}

struct ingest {
    struct pitr_s3_client *base;
    pthread_mutex_t lock;
    const char *data;
    size_t bytes;
    int next, count, failed;
    double sum_ms;
};

static void *ingest_worker(void *arg)
{
    struct ingest *g = arg;
    struct pitr_s3_client *c = NULL;
    struct pitr_err err = { 0 };

    pthread_mutex_lock(&g->lock);
    if (pitr_s3_client_clone(g->base, &c, &err) != PITR_OK)
        g->failed++;
    pthread_mutex_unlock(&g->lock);
    while (c != NULL) {
        char key[64];
        int64_t t0;
        int n;
        pitr_rc rc;

        pthread_mutex_lock(&g->lock);
        n = g->next < g->count ? g->next++ : -1;
        pthread_mutex_unlock(&g->lock);
        if (n < 0)
            break;
        snprintf(key, sizeof(key), "bench-ingest-%d-%d", (int)getpid(), n);
        t0 = pitr_clock_ns();
        rc = pitr_s3_put_object(c, key, g->data, g->bytes, &err);
        pthread_mutex_lock(&g->lock);
        g->sum_ms += pitr_clock_ms_since(t0);
        if (rc != PITR_OK) {
            g->failed++;
            fprintf(stderr, "%s\n", err.msg);
        }
        pthread_mutex_unlock(&g->lock);
    }
    pitr_s3_client_free(c);
    return NULL;
}

static int ingest_main(char **argv)
{
    struct pitr_s3_client_opts o;
    struct ingest g;
    struct pitr_err err = { 0 };
    pthread_t t[16];
    int threads = atoi(argv[0]), i;
    int64_t t0;
    double s;
    char *data;

    memset(&o, 0, sizeof(o));
    o.endpoint_url = getenv("PITR_TEST_S3_TLS_ENDPOINT");
    o.bucket = getenv("PITR_TEST_BUCKET");
    o.ca_file = getenv("PITR_TEST_CA_FILE");
    o.region = getenv("AWS_REGION");
    o.access_key = getenv("AWS_ACCESS_KEY_ID");
    o.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    o.url_style = PITR_URL_STYLE_PATH;
    memset(&g, 0, sizeof(g));
    g.bytes = (size_t)atol(argv[1]);
    g.count = atoi(argv[2]);
    if (threads < 1 || threads > 16 || g.bytes == 0 || g.count < 1)
        return 2;
    if (pitr_s3_client_new(&o, &g.base, &err) != PITR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    data = malloc(g.bytes);
    if (data == NULL)
        return 1;
    for (size_t k = 0; k < g.bytes; k++) /* incompressible, like gzip output */
        data[k] = (char)((k * 2654435761u) >> 13);
    g.data = data;
    pthread_mutex_init(&g.lock, NULL);
    t0 = pitr_clock_ns();
    for (i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, ingest_worker, &g);
    for (i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    s = pitr_clock_ms_since(t0) / 1000.0;
    printf("%.3f %.2f %.1f %.1f\n",
           s,
           g.count / s,
           (double)g.bytes * g.count / 1048576.0 / s,
           g.sum_ms / g.count);
    pitr_s3_client_free(g.base);
    free(data);
    return g.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "codec") == 0)
        return codec_main(argc - 2, argv + 2);
    if (argc == 5 && strcmp(argv[1], "ingest") == 0)
        return ingest_main(argv + 2);
    fprintf(stderr,
            "usage: pushparts codec <gzip|zstd> <threads> <file>... | ingest <threads> <bytes> "
            "<count>\n");
    return 2;
}
