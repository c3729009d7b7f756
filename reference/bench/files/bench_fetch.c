/*
 * bench_fetch: runs bench_fetch.sh (nginx, curl and several processes are
 * easier to drive from a shell) with the directory of the programs it
 * measures, which is this program's own.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argc;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        perror("bench_fetch: /proc/self/exe");
        return 1;
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    execl("/bin/bash", "bash", BENCH_FETCH_SCRIPT, self, (char *)NULL);
    perror("bench_fetch: " BENCH_FETCH_SCRIPT);
    (void)argv;
    return 1;
}
