/* paths.h - private to archive/: local path helpers shared by its files. */
#ifndef PGPITR_ARCHIVE_PATHS_H
#define PGPITR_ARCHIVE_PATHS_H

/*
 * The directory part of path, as dirname(1) prints it ("." for a bare
 * name, "/" for a file in the root); a heap string owned by the caller.
 */
char *pitr_archive_dir_name(const char *path);

#endif
