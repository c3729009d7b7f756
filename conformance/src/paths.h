#ifndef CAIRN_CONFORM_PATHS_H
#define CAIRN_CONFORM_PATHS_H

/*
 * Where the suite's data (cases, fixtures, the spec) is by default: installed
 * beside the program, as <bindir>/../share/cairn/<rel>, when that exists (an
 * installed cairn-conform, also under a DESTDIR), else `built`, the path in
 * the source tree it was built from. The returned string lives until exit.
 */
const char *conform_data_path(const char *rel, const char *built);

#endif
