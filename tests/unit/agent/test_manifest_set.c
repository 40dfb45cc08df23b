/*
 * test_manifest_set.c - unit tests for src/agent/manifest_set.c: the strict
 * base64 of Secret data, diagnostics as text, lookups, and moving sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "agent/manifest_int.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"

static void ok_b64(const char *in, const char *want, size_t want_len)
{
    char *out = NULL;
    size_t n = 0;

    assert_true(pitr_mf_base64_decode(in, strlen(in), &out, &n));
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
    assert_int_equal(out[n], '\0');
    pitr_free(out);
}

static void bad_b64(const char *in)
{
    char *out = NULL;
    size_t n = 0;

    if (pitr_mf_base64_decode(in, strlen(in), &out, &n))
        fail_msg("'%s' was taken as base64", in);
    assert_null(out);
}

static void pitr_mf_base64_decode__valid(void **state)
{
    (void)state;
    ok_b64("", "", 0);
    ok_b64("Zg==", "f", 1);
    ok_b64("Zm8=", "fo", 2);
    ok_b64("Zm9v", "foo", 3);
    ok_b64("Zm9vYmFy", "foobar", 6);
    ok_b64("Zm9v\nYmFy\n", "foobar", 6); /* folded lines */
    ok_b64("AP8=", "\0\xff", 2);
    ok_b64("+/+/", "\xfb\xff\xbf", 3);
}

static void pitr_mf_base64_decode__strict(void **state)
{
    (void)state;
    bad_b64("Zg");       /* no padding */
    bad_b64("Zg=");      /* short padding */
    bad_b64("Z===");     /* too much padding */
    bad_b64("Zh==");     /* bits under the padding */
    bad_b64("Zm9=");     /* bits under the padding */
    bad_b64("Zg==Zg=="); /* data after padding */
    bad_b64("Zm9v!");    /* not in the alphabet */
    bad_b64("Zm9v_-__"); /* the URL alphabet is not Kubernetes' */
    bad_b64("=Zm9");
}

static void pitr_manifest_diag_str__file_line_severity(void **state)
{
    struct pitr_mf_diag d = { PITR_MF_WARNING, { (char *)"m.yaml", 7 }, (char *)"x" };
    char *s;

    (void)state;
    s = pitr_manifest_diag_str(&d);
    assert_string_equal(s, "m.yaml:7: warning: x");
    pitr_free(s);
    d.severity = PITR_MF_ERROR;
    s = pitr_manifest_diag_str(&d);
    assert_string_equal(s, "m.yaml:7: error: x");
    pitr_free(s);
}

static void pitr_mf_set_move__appends_and_empties(void **state)
{
    static const char a[] =
      "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: a}\n";
    static const char b[] = "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\n"
                            "metadata: {name: b, namespace: ns}\n---\nkind: X\napiVersion: y\n";
    struct pitr_mf_set s1 = { 0 }, s2 = { 0 };
    struct pitr_err err = { 0 };
    const struct pitr_mf_cluster *c;

    (void)state;
    assert_int_equal(pitr_manifest_parse("a.yaml", a, strlen(a), &s1, &err), PITR_OK);
    assert_int_equal(pitr_manifest_parse("b.yaml", b, strlen(b), &s2, &err), PITR_OK);
    pitr_mf_set_move(&s1, &s2);
    assert_int_equal(s2.n_clusters + s2.n_diags, 0);
    assert_null(s2.clusters);
    assert_int_equal(s1.n_clusters, 2);
    assert_int_equal(s1.n_diags, 1);
    c = pitr_manifest_find_cluster(&s1, "ns", "b");
    assert_non_null(c);
    assert_string_equal(c->meta.loc.file, "b.yaml");
    assert_non_null(pitr_manifest_find_cluster(&s1, NULL, "a"));
    assert_null(pitr_manifest_find_cluster(&s1, "ns", "a"));
    assert_null(pitr_manifest_find_cluster(NULL, "ns", "a"));
    pitr_manifest_set_release(&s1);
    pitr_manifest_set_release(&s1); /* released twice is fine */
    pitr_manifest_set_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_mf_base64_decode__valid),
        cmocka_unit_test(pitr_mf_base64_decode__strict),
        cmocka_unit_test(pitr_manifest_diag_str__file_line_severity),
        cmocka_unit_test(pitr_mf_set_move__appends_and_empties),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
