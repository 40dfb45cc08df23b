/* main.c - the pgpitr program; everything else lives in libpgpitr. */
#include "pgpitr/cmd/cli.h"

int main(int argc, char **argv)
{
    return pitr_cli_main(argc, argv);
}
