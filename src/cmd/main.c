/* main.c - the pgpitr program; everything else lives in libpgpitr. */
#include <malloc.h>

#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/clock.h"

int main(int argc, char **argv)
{
    /* wal-push's debug timing lines count from here. */
    pitr_clock_mark_start();
    /*
     * Blocks of 1 MiB and more (tar chunks, compressed chunks, S3 parts) get
     * their own mappings and go back to the system when freed. By default
     * glibc raises this threshold after the first such block is freed and
     * then keeps freed blocks in each thread's heap: a backup's peak RSS was
     * 6-8 MB higher (docs/benchmarks.md, "Backup memory").
     */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    return pitr_cli_main(argc, argv);
}
