// Scenario files: JSON objects of known keys (scenario.h), read with jansson.
// An unknown key is an error, so a typo never silently runs the default.
#include "scenario.h"

#include <jansson.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>

namespace cairnsim
{

bool LoadScenario(const std::string &path, Scenario *s, std::string *err)
{
    json_error_t je;
    json_t *root = json_load_file(path.c_str(), 0, &je);
    if (!root) {
        *err = path + ":" + std::to_string(je.line) + ": " + je.text;
        return false;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *err = path + ": not a JSON object";
        return false;
    }
    std::map<std::string, std::function<bool(json_t *)>> keys;
    auto num = [&](const char *k, double *out, double lo, double hi) {
        keys[k] = [=](json_t *v) {
            if (!json_is_number(v))
                return false;
            double d = json_number_value(v);
            if (!(d >= lo && d <= hi))
                return false;
            *out = d;
            return true;
        };
    };
    auto u32 = [&](const char *k, uint32_t *out, double lo, double hi) {
        keys[k] = [=](json_t *v) {
            if (!json_is_integer(v))
                return false;
            json_int_t d = json_integer_value(v);
            if (d < lo || d > hi)
                return false;
            *out = (uint32_t)d;
            return true;
        };
    };
    auto str = [&](const char *k, std::string *out) {
        keys[k] = [=](json_t *v) {
            if (!json_is_string(v))
                return false;
            *out = json_string_value(v);
            return true;
        };
    };
    str("name", &s->name);
    keys["seed"] = [=](json_t *v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return false;
        s->seed = (uint64_t)json_integer_value(v);
        return true;
    };
    u32("nodes", &s->nodes, 2, 1000000);
    u32("outbound", &s->outbound, 1, 64);
    u32("known_addrs", &s->known_addrs, 1, 1000);
    num("duration_s", &s->duration_s, 1, 1e7);
    num("warmup_s", &s->warmup_s, 0, 1e7);
    num("quiet_s", &s->quiet_s, 0, 1e7);
    num("block_interval_s", &s->block_interval_s, 0.001, 1e7);
    u32("block_size", &s->block_size, 0, 2000000);
    u32("entry_size", &s->entry_size, 16, 65536);
    u32("max_blocks", &s->max_blocks, 0, 1000000);
    u32("miners", &s->miners, 1, 1000000);
    str("miner_distribution", &s->miner_distribution);
    num("miner_ratio", &s->miner_ratio, 0.01, 1);
    str("link_model", &s->link_model);
    num("spread", &s->spread, 0, 0.99);
    num("cpu_block_fixed_us", &s->cpu_block_fixed_us, 0, 1e9);
    num("cpu_per_mib_ms", &s->cpu_per_mib_ms, 0, 1e9);
    num("partition_fraction", &s->partition_fraction, 0, 1);
    num("split_s", &s->split_s, 0, 1e7);
    num("heal_s", &s->heal_s, 0, 1e7);
    num("leave_per_min", &s->leave_per_min, 0, 1e6);
    num("join_per_min", &s->join_per_min, 0, 1e6);
    num("churn_start_s", &s->churn_start_s, 0, 1e7);
    num("churn_stop_s", &s->churn_stop_s, 0, 1e7);
    u32("churn_spare", &s->churn_spare, 0, 1000000);
    u32("withholders", &s->withholders, 0, 1000000);
    num("withhold_s", &s->withhold_s, 0, 1e7);
    u32("flooders", &s->flooders, 0, 1000000);
    num("flood_per_s", &s->flood_per_s, 0, 1e6);
    keys["log_events"] = [=](json_t *v) {
        if (!json_is_boolean(v))
            return false;
        s->log_events = json_is_true(v);
        return true;
    };
    keys["comment"] = [](json_t *) { return true; };

    bool ok = true;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        auto it = keys.find(k);
        if (it == keys.end()) {
            *err = path + ": unknown key \"" + k + "\"";
            ok = false;
            break;
        }
        if (!it->second(v)) {
            *err = path + ": bad value for \"" + k + "\"";
            ok = false;
            break;
        }
    }
    json_decref(root);
    if (ok && s->miner_distribution != "equal" && s->miner_distribution != "geometric") {
        *err = path + ": miner_distribution is \"equal\" or \"geometric\"";
        ok = false;
    }
    if (ok && s->heal_s < s->split_s) {
        *err = path + ": heal_s before split_s";
        ok = false;
    }
    if (ok && s->miners + s->withholders + s->flooders > s->nodes) {
        *err = path + ": more miners, withholders and flooders than nodes";
        ok = false;
    }
    return ok;
}

} // namespace cairnsim
