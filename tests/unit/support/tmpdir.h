/*
 * tmpdir.h - helpers shared by the unit tests (linked into every test binary).
 */
#ifndef PGPITR_TEST_TMPDIR_H
#define PGPITR_TEST_TMPDIR_H

/* Remove path and everything below it; a missing path is fine. */
void pitr_test_rm_rf(const char *path);

#endif
