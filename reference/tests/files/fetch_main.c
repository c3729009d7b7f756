/*
 * files_cairn: the `cairn fetch` and `cairn manifest` commands on their own
 * (the very same fetch.c and manifest.c that the cairn binary links), so the
 * files tests do not depend on the rest of the client.
 */
#include <stdio.h>
#include <string.h>

int cmd_fetch(int argc, char **argv);
int cmd_manifest(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
        return cmd_fetch(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "manifest") == 0)
        return cmd_manifest(argc - 1, argv + 1);
    fprintf(stderr, "usage: files_cairn fetch|manifest ...\n");
    return 2;
}
