/*
 * manifest_int.h - what manifest.c (parsing), manifest_set.c (sets,
 * Secrets) and manifest_dir.c (the watcher) share. Not a public interface.
 *
 * Ownership as in pgpitr/agent/manifest.h: the _copy functions fill *dst
 * with independent heap copies (the caller releases them); the _release
 * functions free what a struct owns (wiping secrets) and zero it.
 */
#ifndef PGPITR_AGENT_MANIFEST_INT_H
#define PGPITR_AGENT_MANIFEST_INT_H

#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/err.h"

/* Append a diagnostic to set (file and msg copied). */
void pitr_mf_diag_add(struct pitr_mf_set *set,
                      enum pitr_mf_severity severity,
                      const char *file,
                      int line,
                      const char *fmt,
                      ...) PITR_PRINTF(5, 6);

void pitr_mf_cluster_copy(struct pitr_mf_cluster *dst, const struct pitr_mf_cluster *src);
void pitr_mf_scheduled_copy(struct pitr_mf_scheduled *dst, const struct pitr_mf_scheduled *src);
void pitr_mf_backup_copy(struct pitr_mf_backup *dst, const struct pitr_mf_backup *src);
void pitr_mf_secret_copy(struct pitr_mf_secret *dst, const struct pitr_mf_secret *src);
void pitr_mf_diag_copy(struct pitr_mf_diag *dst, const struct pitr_mf_diag *src);

void pitr_mf_cluster_release(struct pitr_mf_cluster *c);
void pitr_mf_scheduled_release(struct pitr_mf_scheduled *s);
void pitr_mf_backup_release(struct pitr_mf_backup *b);
void pitr_mf_secret_release(struct pitr_mf_secret *s);
void pitr_mf_diag_release(struct pitr_mf_diag *d);

/* Append one object to a set (the struct is moved: *obj is zeroed). */
void pitr_mf_set_take_cluster(struct pitr_mf_set *set, struct pitr_mf_cluster *obj);
void pitr_mf_set_take_scheduled(struct pitr_mf_set *set, struct pitr_mf_scheduled *obj);
void pitr_mf_set_take_backup(struct pitr_mf_set *set, struct pitr_mf_backup *obj);
void pitr_mf_set_take_secret(struct pitr_mf_set *set, struct pitr_mf_secret *obj);

/* Move every object and diagnostic of src to the end of dst; src is left empty. */
void pitr_mf_set_move(struct pitr_mf_set *dst, struct pitr_mf_set *src);

/* Strict base64 (RFC 4648, padding required; ASCII white space skipped). */
PITR_MUST_CHECK int pitr_mf_base64_decode(const char *in, size_t n, char **out, size_t *out_len);

#endif
