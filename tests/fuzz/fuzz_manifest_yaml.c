/*
 * fuzz_manifest_yaml.c - CloudNativePG manifests (Cluster, ScheduledBackup,
 * Backup, Secret; multi-document YAML) through pitr_manifest_parse, then
 * the Secret references through pitr_manifest_resolve and every
 * diagnostic through pitr_manifest_diag_str. The input is parsed twice
 * into the same set (as the folder watcher merges files), so objects and
 * diagnostics of a first parse meet those of a second one. No files.
 */
#include "fuzz.h"

#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    fuzz_quiet();
    if (pitr_manifest_parse("fuzz.yaml", (const char *)data, size, &set, &err) == PITR_OK &&
        pitr_manifest_parse("again.yaml", (const char *)data, size, &set, &err) == PITR_OK &&
        pitr_manifest_resolve(&set, &err) == PITR_OK) {
        for (size_t i = 0; i < set.n_diags; i++)
            pitr_free(pitr_manifest_diag_str(&set.diags[i]));
        (void)pitr_manifest_find_cluster(&set, "default", "x");
    }
    pitr_manifest_set_release(&set);
    return 0;
}
