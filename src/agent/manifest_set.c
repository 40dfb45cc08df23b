/*
 * manifest_set.c - sets of manifest objects: copies, releases, the Secret
 * references of Clusters resolved against the set's Secrets, and
 * diagnostics. See pgpitr/agent/manifest.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agent/manifest_int.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/mem.h"

void pitr_mf_diag_add(struct pitr_mf_set *set,
                      enum pitr_mf_severity severity,
                      const char *file,
                      int line,
                      const char *fmt,
                      ...)
{
    struct pitr_mf_diag *d;
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    set->diags = pitr_realloc(set->diags, (set->n_diags + 1) * sizeof(*set->diags));
    d = &set->diags[set->n_diags++];
    d->severity = severity;
    d->loc.file = pitr_strdup(file != NULL ? file : "");
    d->loc.line = line;
    d->msg = pitr_strdup(msg);
}

char *pitr_manifest_diag_str(const struct pitr_mf_diag *d)
{
    return pitr_asprintf("%s:%d: %s: %s",
                         d->loc.file != NULL ? d->loc.file : "",
                         d->loc.line,
                         d->severity == PITR_MF_ERROR ? "error" : "warning",
                         d->msg != NULL ? d->msg : "");
}

/* ---- copies and releases ------------------------------------------------ */

static char *dup_secret(const char *s)
{
    return s != NULL ? pitr_strdup(s) : NULL;
}

static void free_secret(char **s)
{
    if (*s != NULL) {
        OPENSSL_cleanse(*s, strlen(*s));
        pitr_free(*s);
        *s = NULL;
    }
}

static void loc_copy(struct pitr_mf_loc *dst, const struct pitr_mf_loc *src)
{
    dst->file = pitr_strdup(src->file);
    dst->line = src->line;
}

static void meta_copy(struct pitr_mf_meta *dst, const struct pitr_mf_meta *src)
{
    dst->name = pitr_strdup(src->name);
    dst->namespace = pitr_strdup(src->namespace);
    dst->uid = pitr_strdup(src->uid);
    loc_copy(&dst->loc, &src->loc);
}

static void meta_release(struct pitr_mf_meta *m)
{
    pitr_free(m->name);
    pitr_free(m->namespace);
    pitr_free(m->uid);
    pitr_free(m->loc.file);
    memset(m, 0, sizeof(*m));
}

static void ref_copy(struct pitr_mf_secret_ref *dst, const struct pitr_mf_secret_ref *src)
{
    dst->name = pitr_strdup(src->name);
    dst->key = pitr_strdup(src->key);
    loc_copy(&dst->loc, &src->loc);
}

static void ref_release(struct pitr_mf_secret_ref *r)
{
    pitr_free(r->name);
    pitr_free(r->key);
    pitr_free(r->loc.file);
    memset(r, 0, sizeof(*r));
}

static char **strv_copy(char *const *v, size_t n)
{
    char **out;

    if (n == 0)
        return NULL;
    out = pitr_calloc(n, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = pitr_strdup(v[i]);
    return out;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pitr_free(v[i]);
    pitr_free(v);
}

/* The resolved values (secrets among them) only. */
static void store_unresolve(struct pitr_mf_store *s)
{
    free_secret(&s->endpoint_ca_pem);
    free_secret(&s->access_key_id);
    free_secret(&s->secret_access_key);
    free_secret(&s->session_token);
    free_secret(&s->region);
    s->resolved = 0;
}

static void store_release(struct pitr_mf_store *s)
{
    store_unresolve(s);
    pitr_free(s->destination_path);
    pitr_free(s->endpoint_url);
    pitr_free(s->server_name);
    pitr_free(s->wal_compression);
    pitr_free(s->wal_encryption);
    pitr_free(s->data_compression);
    pitr_free(s->data_encryption);
    strv_free(s->tags, s->n_tags);
    strv_free(s->history_tags, s->n_history_tags);
    ref_release(&s->endpoint_ca_ref);
    ref_release(&s->access_key_id_ref);
    ref_release(&s->secret_access_key_ref);
    ref_release(&s->session_token_ref);
    ref_release(&s->region_ref);
    memset(s, 0, sizeof(*s));
}

static void store_copy(struct pitr_mf_store *dst, const struct pitr_mf_store *src)
{
    *dst = *src;
    dst->destination_path = pitr_strdup(src->destination_path);
    dst->endpoint_url = pitr_strdup(src->endpoint_url);
    dst->endpoint_ca_pem = dup_secret(src->endpoint_ca_pem);
    dst->server_name = pitr_strdup(src->server_name);
    dst->access_key_id = dup_secret(src->access_key_id);
    dst->secret_access_key = dup_secret(src->secret_access_key);
    dst->session_token = dup_secret(src->session_token);
    dst->region = dup_secret(src->region);
    dst->wal_compression = pitr_strdup(src->wal_compression);
    dst->wal_encryption = pitr_strdup(src->wal_encryption);
    dst->data_compression = pitr_strdup(src->data_compression);
    dst->data_encryption = pitr_strdup(src->data_encryption);
    dst->tags = strv_copy(src->tags, src->n_tags);
    dst->history_tags = strv_copy(src->history_tags, src->n_history_tags);
    ref_copy(&dst->endpoint_ca_ref, &src->endpoint_ca_ref);
    ref_copy(&dst->access_key_id_ref, &src->access_key_id_ref);
    ref_copy(&dst->secret_access_key_ref, &src->secret_access_key_ref);
    ref_copy(&dst->session_token_ref, &src->session_token_ref);
    ref_copy(&dst->region_ref, &src->region_ref);
}

static void recovery_copy(struct pitr_mf_recovery *dst, const struct pitr_mf_recovery *src)
{
    const struct pitr_mf_recovery_target *t = &src->target;

    *dst = *src;
    dst->source = pitr_strdup(src->source);
    dst->backup_name = pitr_strdup(src->backup_name);
    dst->target.target_time = pitr_strdup(t->target_time);
    dst->target.target_xid = pitr_strdup(t->target_xid);
    dst->target.target_name = pitr_strdup(t->target_name);
    dst->target.target_lsn = pitr_strdup(t->target_lsn);
    dst->target.target_tli = pitr_strdup(t->target_tli);
    dst->target.backup_id = pitr_strdup(t->backup_id);
    dst->loc.file = pitr_strdup(src->loc.file);
}

static void recovery_release(struct pitr_mf_recovery *r)
{
    pitr_free(r->source);
    pitr_free(r->backup_name);
    pitr_free(r->target.target_time);
    pitr_free(r->target.target_xid);
    pitr_free(r->target.target_name);
    pitr_free(r->target.target_lsn);
    pitr_free(r->target.target_tli);
    pitr_free(r->target.backup_id);
    pitr_free(r->loc.file);
    memset(r, 0, sizeof(*r));
}

void pitr_mf_cluster_copy(struct pitr_mf_cluster *dst, const struct pitr_mf_cluster *src)
{
    memset(dst, 0, sizeof(*dst));
    meta_copy(&dst->meta, &src->meta);
    dst->has_store = src->has_store;
    store_copy(&dst->store, &src->store);
    dst->retention_policy = pitr_strdup(src->retention_policy);
    dst->target = pitr_strdup(src->target);
    dst->has_recovery = src->has_recovery;
    recovery_copy(&dst->recovery, &src->recovery);
    if (src->n_externals > 0)
        dst->externals = pitr_calloc(src->n_externals, sizeof(*dst->externals));
    for (size_t i = 0; i < src->n_externals; i++) {
        struct pitr_mf_external *x = &dst->externals[i];

        x->name = pitr_strdup(src->externals[i].name);
        x->has_store = src->externals[i].has_store;
        store_copy(&x->store, &src->externals[i].store);
        x->loc.file = pitr_strdup(src->externals[i].loc.file);
        x->loc.line = src->externals[i].loc.line;
    }
    dst->n_externals = src->n_externals;
}

void pitr_mf_cluster_release(struct pitr_mf_cluster *c)
{
    meta_release(&c->meta);
    store_release(&c->store);
    pitr_free(c->retention_policy);
    pitr_free(c->target);
    recovery_release(&c->recovery);
    for (size_t i = 0; i < c->n_externals; i++) {
        pitr_free(c->externals[i].name);
        store_release(&c->externals[i].store);
        pitr_free(c->externals[i].loc.file);
    }
    pitr_free(c->externals);
    memset(c, 0, sizeof(*c));
}

void pitr_mf_scheduled_copy(struct pitr_mf_scheduled *dst, const struct pitr_mf_scheduled *src)
{
    *dst = *src;
    meta_copy(&dst->meta, &src->meta);
    dst->schedule = pitr_strdup(src->schedule);
    loc_copy(&dst->schedule_loc, &src->schedule_loc);
    dst->cluster = pitr_strdup(src->cluster);
    dst->owner_reference = pitr_strdup(src->owner_reference);
    dst->method = pitr_strdup(src->method);
    dst->target = pitr_strdup(src->target);
}

void pitr_mf_scheduled_release(struct pitr_mf_scheduled *s)
{
    meta_release(&s->meta);
    pitr_free(s->schedule);
    pitr_free(s->schedule_loc.file);
    pitr_free(s->cluster);
    pitr_free(s->owner_reference);
    pitr_free(s->method);
    pitr_free(s->target);
    memset(s, 0, sizeof(*s));
}

void pitr_mf_backup_copy(struct pitr_mf_backup *dst, const struct pitr_mf_backup *src)
{
    meta_copy(&dst->meta, &src->meta);
    dst->cluster = pitr_strdup(src->cluster);
    dst->method = pitr_strdup(src->method);
    dst->target = pitr_strdup(src->target);
}

void pitr_mf_backup_release(struct pitr_mf_backup *b)
{
    meta_release(&b->meta);
    pitr_free(b->cluster);
    pitr_free(b->method);
    pitr_free(b->target);
    memset(b, 0, sizeof(*b));
}

void pitr_mf_secret_copy(struct pitr_mf_secret *dst, const struct pitr_mf_secret *src)
{
    memset(dst, 0, sizeof(*dst));
    meta_copy(&dst->meta, &src->meta);
    dst->n = src->n;
    if (src->n == 0)
        return;
    dst->keys = strv_copy(src->keys, src->n);
    dst->values = pitr_calloc(src->n, sizeof(*dst->values));
    dst->value_lens = pitr_calloc(src->n, sizeof(*dst->value_lens));
    for (size_t i = 0; i < src->n; i++) {
        dst->values[i] = pitr_malloc(src->value_lens[i] + 1);
        memcpy(dst->values[i], src->values[i], src->value_lens[i] + 1);
        dst->value_lens[i] = src->value_lens[i];
    }
}

void pitr_mf_secret_release(struct pitr_mf_secret *s)
{
    meta_release(&s->meta);
    for (size_t i = 0; i < s->n; i++) {
        if (s->values != NULL && s->values[i] != NULL) {
            OPENSSL_cleanse(s->values[i], s->value_lens[i]);
            pitr_free(s->values[i]);
        }
    }
    strv_free(s->keys, s->n);
    pitr_free(s->values);
    pitr_free(s->value_lens);
    memset(s, 0, sizeof(*s));
}

void pitr_mf_diag_copy(struct pitr_mf_diag *dst, const struct pitr_mf_diag *src)
{
    dst->severity = src->severity;
    loc_copy(&dst->loc, &src->loc);
    dst->msg = pitr_strdup(src->msg);
}

void pitr_mf_diag_release(struct pitr_mf_diag *d)
{
    pitr_free(d->loc.file);
    pitr_free(d->msg);
    memset(d, 0, sizeof(*d));
}

void pitr_manifest_set_release(struct pitr_mf_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n_clusters; i++)
        pitr_mf_cluster_release(&set->clusters[i]);
    for (size_t i = 0; i < set->n_scheduled; i++)
        pitr_mf_scheduled_release(&set->scheduled[i]);
    for (size_t i = 0; i < set->n_backups; i++)
        pitr_mf_backup_release(&set->backups[i]);
    for (size_t i = 0; i < set->n_diags; i++)
        pitr_mf_diag_release(&set->diags[i]);
    for (size_t i = 0; i < set->n_secrets; i++)
        pitr_mf_secret_release(&set->secrets[i]);
    pitr_free(set->clusters);
    pitr_free(set->scheduled);
    pitr_free(set->backups);
    pitr_free(set->diags);
    pitr_free(set->secrets);
    memset(set, 0, sizeof(*set));
}

/* ---- moving objects between sets ---------------------------------------- */

void pitr_mf_set_take_cluster(struct pitr_mf_set *set, struct pitr_mf_cluster *obj)
{
    set->clusters = pitr_realloc(set->clusters, (set->n_clusters + 1) * sizeof(*set->clusters));
    set->clusters[set->n_clusters++] = *obj;
    memset(obj, 0, sizeof(*obj));
}

void pitr_mf_set_take_scheduled(struct pitr_mf_set *set, struct pitr_mf_scheduled *obj)
{
    set->scheduled = pitr_realloc(set->scheduled, (set->n_scheduled + 1) * sizeof(*set->scheduled));
    set->scheduled[set->n_scheduled++] = *obj;
    memset(obj, 0, sizeof(*obj));
}

void pitr_mf_set_take_backup(struct pitr_mf_set *set, struct pitr_mf_backup *obj)
{
    set->backups = pitr_realloc(set->backups, (set->n_backups + 1) * sizeof(*set->backups));
    set->backups[set->n_backups++] = *obj;
    memset(obj, 0, sizeof(*obj));
}

void pitr_mf_set_take_secret(struct pitr_mf_set *set, struct pitr_mf_secret *obj)
{
    set->secrets = pitr_realloc(set->secrets, (set->n_secrets + 1) * sizeof(*set->secrets));
    set->secrets[set->n_secrets++] = *obj;
    memset(obj, 0, sizeof(*obj));
}

/* Append src[0..n) (elements of size sz) to *dst (holding *dn) and free src. */
static void *move_array(void *dst, size_t *dn, void *src, size_t n, size_t sz)
{
    char *out;

    if (n == 0) {
        pitr_free(src);
        return dst;
    }
    out = pitr_realloc(dst, (*dn + n) * sz);
    memcpy(out + *dn * sz, src, n * sz);
    *dn += n;
    pitr_free(src);
    return out;
}

void pitr_mf_set_move(struct pitr_mf_set *dst, struct pitr_mf_set *src)
{
    dst->clusters = move_array(
      dst->clusters, &dst->n_clusters, src->clusters, src->n_clusters, sizeof(*src->clusters));
    dst->scheduled = move_array(
      dst->scheduled, &dst->n_scheduled, src->scheduled, src->n_scheduled, sizeof(*src->scheduled));
    dst->backups = move_array(
      dst->backups, &dst->n_backups, src->backups, src->n_backups, sizeof(*src->backups));
    dst->diags =
      move_array(dst->diags, &dst->n_diags, src->diags, src->n_diags, sizeof(*src->diags));
    dst->secrets = move_array(
      dst->secrets, &dst->n_secrets, src->secrets, src->n_secrets, sizeof(*src->secrets));
    memset(src, 0, sizeof(*src));
}

/* ---- base64 --------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int pitr_mf_base64_decode(const char *in, size_t n, char **out, size_t *out_len)
{
    unsigned char quad[4];
    size_t q = 0, len = 0, pad = 0;
    char *buf = pitr_malloc(n / 4 * 3 + 4);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;

        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            /* Padding: only in the last two places of the last quad. */
            if (q < 2)
                goto bad;
            pad++;
            quad[q++] = 0;
        } else {
            v = b64_value(c);
            if (v < 0 || pad > 0)
                goto bad;
            quad[q++] = (unsigned char)v;
        }
        if (q == 4) {
            unsigned v24 =
              (unsigned)quad[0] << 18 | (unsigned)quad[1] << 12 | (unsigned)quad[2] << 6 | quad[3];

            buf[len++] = (char)(v24 >> 16 & 0xff);
            if (pad < 2)
                buf[len++] = (char)(v24 >> 8 & 0xff);
            if (pad < 1)
                buf[len++] = (char)(v24 & 0xff);
            q = 0;
            if (pad > 0) {
                /* Non-zero bits under the padding are not canonical. */
                if ((pad == 1 && (quad[2] & 0x3) != 0) || (pad == 2 && (quad[1] & 0xf) != 0))
                    goto bad;
                /* Nothing but white space may follow. */
                for (size_t j = i + 1; j < n; j++)
                    if (in[j] != ' ' && in[j] != '\n' && in[j] != '\r' && in[j] != '\t')
                        goto bad;
                break;
            }
        }
    }
    if (q != 0)
        goto bad;
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 1;
bad:
    OPENSSL_cleanse(buf, n / 4 * 3 + 4);
    pitr_free(buf);
    return 0;
}

/* ---- lookups and Secret resolution --------------------------------------- */

const struct pitr_mf_cluster *pitr_manifest_find_cluster(const struct pitr_mf_set *set,
                                                         const char *ns,
                                                         const char *name)
{
    if (set == NULL || name == NULL)
        return NULL;
    if (ns == NULL)
        ns = "default";
    for (size_t i = 0; i < set->n_clusters; i++) {
        const struct pitr_mf_cluster *c = &set->clusters[i];

        if (strcmp(c->meta.name, name) == 0 && strcmp(c->meta.namespace, ns) == 0)
            return c;
    }
    return NULL;
}

static const struct pitr_mf_secret *find_secret(const struct pitr_mf_set *set,
                                                const char *ns,
                                                const char *name)
{
    for (size_t i = 0; i < set->n_secrets; i++) {
        const struct pitr_mf_secret *s = &set->secrets[i];

        if (strcmp(s->meta.name, name) == 0 && strcmp(s->meta.namespace, ns) == 0)
            return s;
    }
    return NULL;
}

/* One reference: 1 when resolved into *out (or absent), 0 with a diagnostic. */
static int resolve_ref(struct pitr_mf_set *set,
                       const struct pitr_mf_cluster *c,
                       const struct pitr_mf_secret_ref *ref,
                       const char *field,
                       char **out)
{
    const struct pitr_mf_secret *s;

    if (ref->name == NULL)
        return 1;
    s = find_secret(set, c->meta.namespace, ref->name);
    if (s == NULL) {
        pitr_mf_diag_add(set,
                         PITR_MF_ERROR,
                         ref->loc.file,
                         ref->loc.line,
                         "Cluster '%s/%s': Secret '%s/%s' (%s) not found",
                         c->meta.namespace,
                         c->meta.name,
                         c->meta.namespace,
                         ref->name,
                         field);
        return 0;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->keys[i], ref->key) != 0)
            continue;
        if (memchr(s->values[i], '\0', s->value_lens[i]) != NULL || s->value_lens[i] == 0) {
            pitr_mf_diag_add(set,
                             PITR_MF_ERROR,
                             ref->loc.file,
                             ref->loc.line,
                             "Cluster '%s/%s': key '%s' of Secret '%s/%s' (%s) is %s",
                             c->meta.namespace,
                             c->meta.name,
                             ref->key,
                             c->meta.namespace,
                             ref->name,
                             field,
                             s->value_lens[i] == 0 ? "empty" : "not text (it holds a NUL byte)");
            return 0;
        }
        *out = pitr_strdup(s->values[i]);
        return 1;
    }
    pitr_mf_diag_add(set,
                     PITR_MF_ERROR,
                     ref->loc.file,
                     ref->loc.line,
                     "Cluster '%s/%s': Secret '%s/%s' has no key '%s' (%s)",
                     c->meta.namespace,
                     c->meta.name,
                     c->meta.namespace,
                     ref->name,
                     ref->key,
                     field);
    return 0;
}

const struct pitr_mf_external *pitr_manifest_find_external(const struct pitr_mf_cluster *c,
                                                           const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_externals; i++)
        if (c->externals[i].name != NULL && strcmp(c->externals[i].name, name) == 0)
            return &c->externals[i];
    return NULL;
}

/* The Secret references of one store of c (spec.backup's or an external cluster's). */
static void resolve_store(struct pitr_mf_set *set,
                          const struct pitr_mf_cluster *c,
                          struct pitr_mf_store *st)
{
    int ok = 1;

    store_unresolve(st);
    ok &= resolve_ref(set, c, &st->endpoint_ca_ref, "endpointCA", &st->endpoint_ca_pem);
    ok &=
      resolve_ref(set, c, &st->access_key_id_ref, "s3Credentials.accessKeyId", &st->access_key_id);
    ok &= resolve_ref(
      set, c, &st->secret_access_key_ref, "s3Credentials.secretAccessKey", &st->secret_access_key);
    ok &=
      resolve_ref(set, c, &st->session_token_ref, "s3Credentials.sessionToken", &st->session_token);
    ok &= resolve_ref(set, c, &st->region_ref, "s3Credentials.region", &st->region);
    if (!ok)
        store_unresolve(st);
    st->resolved = ok && !st->unsupported;
}

pitr_rc pitr_manifest_resolve(struct pitr_mf_set *set, struct pitr_err *err)
{
    (void)err;
    for (size_t i = 0; i < set->n_clusters; i++) {
        struct pitr_mf_cluster *c = &set->clusters[i];
        struct pitr_mf_store *st = &c->store;
        int ok = 1;

        for (size_t k = 0; k < c->n_externals; k++)
            if (c->externals[k].has_store)
                resolve_store(set, c, &c->externals[k].store);
        store_unresolve(st);
        if (!c->has_store)
            continue;
        ok &= resolve_ref(set, c, &st->endpoint_ca_ref, "endpointCA", &st->endpoint_ca_pem);
        ok &= resolve_ref(
          set, c, &st->access_key_id_ref, "s3Credentials.accessKeyId", &st->access_key_id);
        ok &= resolve_ref(set,
                          c,
                          &st->secret_access_key_ref,
                          "s3Credentials.secretAccessKey",
                          &st->secret_access_key);
        ok &= resolve_ref(
          set, c, &st->session_token_ref, "s3Credentials.sessionToken", &st->session_token);
        ok &= resolve_ref(set, c, &st->region_ref, "s3Credentials.region", &st->region);
        if (!ok)
            store_unresolve(st);
        st->resolved = ok && !st->unsupported;
    }
    return PITR_OK;
}
