/* Default data paths of an installed or an in-tree cairn-conform. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"

const char *conform_data_path(const char *rel, const char *built)
{
    static char store[4][PATH_MAX];
    static int used;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0 || used >= 4)
        return built;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return built;
    *slash = '\0'; /* the program's directory */
    char *out = store[used];
    int w = snprintf(out, PATH_MAX, "%s/../share/cairn/%s", exe, rel);
    if (w < 0 || w >= PATH_MAX || access(out, R_OK) != 0)
        return built;
    used++;
    return out;
}
