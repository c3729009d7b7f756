/* The core's clocks and log line, from what the driver injected (cairn_node_config). */
#include <stdarg.h>
#include <stdio.h>

#include "node_int.h"

uint64_t node_now(const node *n)
{
    return n->env->mono_ms(n->env->ud);
}

uint64_t node_wall(const node *n)
{
    return n->env->wall_ms(n->env->ud);
}

void node_log(const node *n, int level, const char *fmt, ...)
{
    if (!n->cfg.log || level > n->cfg.log_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n->cfg.log(n->cfg.ud, level, line);
}
