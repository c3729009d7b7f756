/* The fault mask of fault-injection builds (cairn/fault.h). */
#include "cairn/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cairn_fault_names[] = {
    "skip_magic",           "skip_type_cap",      "canonical_as_malformed",
    "accept_unknown_field", "skip_field_rules",   "accept_bad_signature",
    "skip_version_check",   "skip_network_check", "skip_self_check",
    "pong_nonce",           "early_messages",     "sign_wrong_role",
    "no_binding",           "wrong_code",         "permissive_ed25519",
    "drop_sync_blocks",     "no_announce",        "no_relay",
    "best_chain_only",      "empty_peers",        NULL,
};

static unsigned mask;
static int loaded;

static void load(void)
{
    loaded = 1;
    const char *env = getenv("CAIRN_FAULTS");
    if (!env)
        return;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", env);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        unsigned i;
        for (i = 0; cairn_fault_names[i] && strcmp(cairn_fault_names[i], t); i++)
            ;
        if (cairn_fault_names[i])
            mask |= 1u << i;
        else
            fprintf(stderr, "CAIRN_FAULTS: unknown fault %s\n", t);
    }
}

int cairn_fault_on(unsigned fault)
{
    if (!loaded)
        load();
    return (mask & fault) != 0;
}

void cairn_fault_set(unsigned m)
{
    loaded = 1;
    mask = m;
}
