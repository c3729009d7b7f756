/* What the node benchmarks read of the node process under test. */
#ifndef CAIRN_BENCH_PROC_H
#define CAIRN_BENCH_PROC_H

/* The resident set of process `pid` (decimal) in KiB, from /proc; -1 if unreadable. */
long bench_rss_kib(const char *pid);

#endif
