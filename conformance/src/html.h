/* The HTML report (--html DIR). */
#ifndef CAIRN_CONFORM_HTML_H
#define CAIRN_CONFORM_HTML_H

#include "run.h"

/*
 * Writes DIR/index.html (every case: verdict, ID, title, time, requirement
 * IDs) and DIR/<case ID>.html for each (the requirements' text with their
 * IDs, the permitted outcomes from the case file, the verdict and why, what
 * was expected and what arrived, the client's output and the decoded wire
 * log with its timing). Plain HTML and CSS, no JavaScript. `pcap_dir`, when
 * set, is where the per-case captures are (linked from each page).
 * Returns 0, or -1 (errno) when a file cannot be written.
 */
int cf_report_html(const char *dir, const char *pcap_dir, const cf_opts *o, const cf_result *rs,
                   size_t n);

#endif
