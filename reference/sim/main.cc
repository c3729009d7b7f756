// cairn-sim: runs a scenario file (scenarios/*.json) on ns-3 and writes its
// results. Usage:
//   cairn-sim SCENARIO.json [--out PREFIX] [--seed N] [--nodes N] [--log FILE]
// writes PREFIX.json (results, deterministic) and PREFIX.cdf.dat (the
// propagation curve for plot.gp), prints a summary, the event-log digest,
// wall time and peak memory.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <malloc.h>
#include <sys/resource.h>

#include <jansson.h>

#include <ns3/config.h>
#include <ns3/rng-seed-manager.h>
#include <ns3/simulator.h>
#include <ns3/uinteger.h>

#include "sim.h"

using namespace cairnsim;

static int Usage()
{
    fprintf(stderr,
            "usage: cairn-sim SCENARIO.json [--out PREFIX] [--seed N] [--nodes N] [--log FILE]\n"
            "                 [--mem-every SIM_SECONDS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return Usage();
    std::string path = argv[1], out = "sim-result", log;
    double mem_every = 0;
    Scenario sc;
    std::string err;
    if (!LoadScenario(path, &sc, &err)) {
        fprintf(stderr, "cairn-sim: %s\n", err.c_str());
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            return Usage();
        if (!strcmp(argv[i], "--out"))
            out = argv[++i];
        else if (!strcmp(argv[i], "--seed"))
            sc.seed = strtoull(argv[++i], nullptr, 10);
        else if (!strcmp(argv[i], "--nodes"))
            sc.nodes = (uint32_t)strtoul(argv[++i], nullptr, 10);
        else if (!strcmp(argv[i], "--log"))
            log = argv[++i];
        else if (!strcmp(argv[i], "--mem-every"))
            mem_every = strtod(argv[++i], nullptr);
        else
            return Usage();
    }
    if (sc.nodes < 2 || sc.miners + sc.withholders + sc.flooders + sc.churn_spare > sc.nodes) {
        fprintf(stderr, "cairn-sim: too few nodes for the scenario's roles\n");
        return 2;
    }
    LinkModel model;
    if (!LoadLinkModel(sc.link_model, sc.spread, &model)) {
        fprintf(stderr, "cairn-sim: unknown link_model \"%s\"\n", sc.link_model.c_str());
        return 2;
    }
    // ns-3: one seed, full-size segments, buffers like a default Linux host
    // before autotuning grows them.
    ns3::RngSeedManager::SetSeed((uint32_t)(sc.seed % 4294967291u) + 1);
    ns3::RngSeedManager::SetRun(1);
    ns3::Config::SetDefault("ns3::TcpSocket::SegmentSize", ns3::UintegerValue(1448));
    ns3::Config::SetDefault("ns3::TcpSocket::SndBufSize", ns3::UintegerValue(256 * 1024));
    ns3::Config::SetDefault("ns3::TcpSocket::RcvBufSize", ns3::UintegerValue(256 * 1024));

    // Buffers of a block's size (bodies in flight, TCP send buffers, session
    // queues) come and go by the thousand: a fixed mmap threshold gives them
    // back to the system when freed instead of leaving the heap at its peak
    // (glibc's sliding threshold would move them into the heap after the
    // first free). Small allocations are not affected.
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    auto t0 = std::chrono::steady_clock::now();
    int rc = 0;
    {
        World w(sc, model);
        w.log_path = log;
        w.MemReportEvery(mem_every);
        w.Run();
        if (!w.WriteResults(out + ".json", out + ".cdf.dat")) {
            fprintf(stderr, "cairn-sim: cannot write %s.json\n", out.c_str());
            rc = 1;
        }
        double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        json_error_t je;
        json_t *res = json_load_file((out + ".json").c_str(), 0, &je);
        json_t *sum = res ? json_object_get(res, "summary") : nullptr;
        if (sum) {
            json_t *mh = json_object_get(sum, "median_header"),
                   *mb = json_object_get(sum, "median_block");
            printf("scenario %s: %u nodes, %g s simulated, %lld blocks (%lld stale)\n",
                   sc.name.c_str(), sc.nodes, sc.duration_s,
                   (long long)json_integer_value(json_object_get(sum, "blocks_mined")),
                   (long long)json_integer_value(json_object_get(sum, "stale_blocks")));
            printf("%-22s %8s %8s %8s %8s\n", "median over blocks (s)", "50%", "90%", "95%", "99%");
            const char *rows[2] = {"header", "full block"};
            json_t *objs[2] = {mh, mb};
            for (int r = 0; r < 2; r++) {
                printf("%-22s", rows[r]);
                for (const char *k : {"p50", "p90", "p95", "p99"}) {
                    json_t *v = json_object_get(objs[r], k);
                    if (json_is_number(v))
                        printf(" %8.2f", json_number_value(v));
                    else
                        printf(" %8s", "-");
                }
                printf("\n");
            }
            printf("%-22s %8.1f %8.1f %8.1f %8.1f\n", "bitcoin 2014 (block)", 3.3, 13.5, 25.0,
                   100.5);
            printf("all on best tip: %s (%lld of %lld online)\n",
                   json_is_true(json_object_get(sum, "all_on_best_tip")) ? "yes" : "no",
                   (long long)json_integer_value(json_object_get(sum, "nodes_on_best_tip")),
                   (long long)json_integer_value(json_object_get(res, "online_at_end")));
            json_t *conv = json_object_get(sum, "converged_after_heal_s");
            if (conv)
                printf("converged after heal: %s s\n",
                       json_is_number(conv) ? std::to_string(json_number_value(conv)).c_str()
                                            : "never");
        }
        json_decref(res);
        printf("events %llu, log lines %llu\n", (unsigned long long)ns3::Simulator::GetEventCount(),
               (unsigned long long)w.LogLines());
        printf("digest %s\n", w.Digest().c_str());
        printf("wall %.1f s, sim/wall %.2f, peak rss %ld MiB\n", wall, sc.duration_s / wall,
               ru.ru_maxrss / 1024);
    }
    ns3::Simulator::Destroy();
    return rc;
}
