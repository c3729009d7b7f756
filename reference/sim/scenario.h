// A scenario file (JSON, README.md "Scenario files"): the network's size and
// link model, mining, partitions, churn and adversaries of one run.
#ifndef CAIRN_SIM_SCENARIO_H
#define CAIRN_SIM_SCENARIO_H

#include <cstdint>
#include <string>

namespace cairnsim
{

struct Scenario {
    std::string name;
    uint64_t seed = 1;
    uint32_t nodes = 100;
    uint32_t outbound = 8;     // the core's outbound target, as cairnd
    uint32_t known_addrs = 32; // random addresses each node starts with (its peers.dat)
    double duration_s = 600;   // simulated time
    double warmup_s = 30;      // no block is mined before
    double quiet_s = 60;       // and none in the last quiet_s (everything settles)
    double block_interval_s = 60;
    uint32_t block_size = 250000; // entry bytes per mined block
    uint32_t entry_size = 1000;   // bytes per entry
    uint32_t max_blocks = 0;      // 0: no limit
    // Miners: `miners` nodes share the hash rate; "equal" or "geometric"
    // (each the next one's share times `miner_ratio`, like pools' skew).
    uint32_t miners = 10;
    std::string miner_distribution = "geometric";
    double miner_ratio = 0.8;
    // Link model.
    std::string link_model = "simblock-2015";
    double spread = 0.5;
    // CPU: validating a block costs fixed_us + per_mib_ms per MiB of body.
    double cpu_block_fixed_us = 382;
    double cpu_per_mib_ms = 13.8;
    // Partition: the nodes of one side (a share `fraction`) cannot reach the
    // other between split_s and heal_s; 0/0 = none.
    double partition_fraction = 0.5;
    double split_s = 0, heal_s = 0;
    // Churn: Poisson leaves and joins (per minute) in [churn_start_s, churn_stop_s).
    double leave_per_min = 0, join_per_min = 0;
    double churn_start_s = 0, churn_stop_s = 0;
    uint32_t churn_spare = 0; // nodes created offline that joins bring up
    // Adversaries.
    uint32_t withholders = 0; // miners that publish their blocks late
    double withhold_s = 30;
    uint32_t flooders = 0; // nodes that send junk frames to their peers
    double flood_per_s = 20;
    // Output.
    bool log_events = false;
};

// Reads a scenario file; false with *err set on a bad file or value.
bool LoadScenario(const std::string &path, Scenario *s, std::string *err);

} // namespace cairnsim
#endif
