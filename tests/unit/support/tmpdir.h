/*
 * tmpdir.h - helpers shared by the unit tests (linked into every test binary).
 */
#ifndef PGPITR_TEST_TMPDIR_H
#define PGPITR_TEST_TMPDIR_H

/* Remove path and everything below it; a missing path is fine. */
void pitr_test_rm_rf(const char *path);

/*
 * Write body to root/rel, creating the folders between them (mode 0700).
 * Returns 0, or -1 when the file cannot be written.
 */
int pitr_test_write_file(const char *root, const char *rel, const char *body);

#endif
