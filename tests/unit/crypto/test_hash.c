/* test_hash.c - unit tests for src/crypto/hash.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"

static void hex_of(const unsigned char *p, size_t n, char *out)
{
    pitr_hex_encode(p, n, out);
}

static void pitr_sha256_hex__empty_fips(void **state)
{
    struct pitr_err err;
    char hex[PITR_SHA256_HEX_LEN + 1];

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_sha256_hex("", 0, hex, &err), PITR_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void pitr_sha256_hex__abc_fips(void **state)
{
    struct pitr_err err;
    char hex[PITR_SHA256_HEX_LEN + 1];

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_sha256_hex("abc", 3, hex, &err), PITR_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void pitr_sha256__two_block_fips(void **state)
{
    static const char msg[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    struct pitr_err err;
    unsigned char md[PITR_SHA256_LEN];
    char hex[PITR_SHA256_HEX_LEN + 1];

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_sha256(msg, strlen(msg), md, &err), PITR_OK);
    hex_of(md, sizeof(md), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* One million 'a' fed in uneven chunks: the FIPS 180-2 answer, and the one-shot digest. */
static void pitr_sha256_update__chunks_equal_one_shot(void **state)
{
    static const size_t chunks[] = { 1, 63, 64, 65, 127, 4096, 7, 100003 };
    const size_t total = 1000000;
    struct pitr_sha256 h = { NULL };
    struct pitr_err err;
    unsigned char inc[PITR_SHA256_LEN], one[PITR_SHA256_LEN];
    char hex[PITR_SHA256_HEX_LEN + 1];
    char *data = pitr_malloc(total);
    size_t off = 0, i = 0;

    (void)state;
    pitr_err_clear(&err);
    memset(data, 'a', total);
    assert_int_equal(pitr_sha256_init(&h, &err), PITR_OK);
    while (off < total) {
        size_t n = chunks[i++ % (sizeof(chunks) / sizeof(chunks[0]))];

        if (n > total - off)
            n = total - off;
        assert_int_equal(pitr_sha256_update(&h, data + off, n, &err), PITR_OK);
        off += n;
    }
    assert_int_equal(pitr_sha256_update(&h, data, 0, &err), PITR_OK); /* empty update */
    assert_int_equal(pitr_sha256_final(&h, inc, &err), PITR_OK);
    pitr_sha256_release(&h);
    assert_null(h.ctx);

    assert_int_equal(pitr_sha256(data, total, one, &err), PITR_OK);
    pitr_free(data);
    assert_memory_equal(inc, one, PITR_SHA256_LEN);
    hex_of(inc, sizeof(inc), hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void pitr_sha256_update__uninitialised_fails(void **state)
{
    struct pitr_sha256 h = { NULL };
    struct pitr_err err;
    unsigned char md[PITR_SHA256_LEN];

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_sha256_update(&h, "x", 1, &err), PITR_EINTERNAL);
    assert_int_equal(err.code, PITR_EINTERNAL);
    pitr_err_clear(&err);
    assert_int_equal(pitr_sha256_final(&h, md, &err), PITR_EINTERNAL);
    pitr_sha256_release(&h); /* releasing an empty context is a no-op */
    pitr_sha256_release(&h);
}

static void pitr_hmac_sha256__rfc4231_case1(void **state)
{
    unsigned char key[20], mac[PITR_SHA256_LEN];
    char hex[PITR_SHA256_HEX_LEN + 1];
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    memset(key, 0x0b, sizeof(key));
    assert_int_equal(pitr_hmac_sha256(key, sizeof(key), "Hi There", 8, mac, &err), PITR_OK);
    hex_of(mac, sizeof(mac), hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void pitr_hmac_sha256__rfc4231_case2(void **state)
{
    static const char msg[] = "what do ya want for nothing?";
    unsigned char mac[PITR_SHA256_LEN];
    char hex[PITR_SHA256_HEX_LEN + 1];
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_hmac_sha256("Jefe", 4, msg, strlen(msg), mac, &err), PITR_OK);
    hex_of(mac, sizeof(mac), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231 test case 6: a key longer than the block size is hashed first. */
static void pitr_hmac_sha256__rfc4231_case6_long_key(void **state)
{
    static const char msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    unsigned char key[131], mac[PITR_SHA256_LEN];
    char hex[PITR_SHA256_HEX_LEN + 1];
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    memset(key, 0xaa, sizeof(key));
    assert_int_equal(pitr_hmac_sha256(key, sizeof(key), msg, strlen(msg), mac, &err), PITR_OK);
    hex_of(mac, sizeof(mac), hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void pitr_hex_encode__lowercase_and_terminated(void **state)
{
    static const unsigned char in[] = { 0x00, 0x0f, 0xa5, 0xff };
    char out[2 * sizeof(in) + 2];

    (void)state;
    memset(out, 'X', sizeof(out));
    pitr_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "000fa5ff");
    pitr_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static void pitr_md5_base64__known_digests(void **state)
{
    char out[PITR_MD5_B64_LEN + 1];
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    /* RFC 1321 test suite values, base64-encoded as Content-MD5 wants them. */
    assert_int_equal(pitr_md5_base64("", 0, out, &err), PITR_OK);
    assert_string_equal(out, "1B2M2Y8AsgTpgAmY7PhCfg==");
    assert_int_equal(pitr_md5_base64("abc", 3, out, &err), PITR_OK);
    assert_string_equal(out, "kAFQmDzST7DWlj99KOF/cg==");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_sha256_hex__empty_fips),
        cmocka_unit_test(pitr_sha256_hex__abc_fips),
        cmocka_unit_test(pitr_sha256__two_block_fips),
        cmocka_unit_test(pitr_sha256_update__chunks_equal_one_shot),
        cmocka_unit_test(pitr_sha256_update__uninitialised_fails),
        cmocka_unit_test(pitr_hmac_sha256__rfc4231_case1),
        cmocka_unit_test(pitr_hmac_sha256__rfc4231_case2),
        cmocka_unit_test(pitr_hmac_sha256__rfc4231_case6_long_key),
        cmocka_unit_test(pitr_hex_encode__lowercase_and_terminated),
        cmocka_unit_test(pitr_md5_base64__known_digests),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
