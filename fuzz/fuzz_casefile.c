/*
 * fuzz_casefile: the conformance harness's case-file parser (conformance/
 * README.md, the case grammar), which reads files an implementer may write
 * by hand.
 *
 * Input: the text of one case file.
 *
 * Oracles: the parser returns 0 or -1 and nothing else; a rejected case
 * always says why (file:line); an accepted case has what the grammar
 * requires (id, title, role, at least one covers, steps; an action for a
 * client case) and every step's line lies inside the text; parsing is a
 * function of the text (a second parse gives the same case); nothing leaks
 * (ASan) whatever the outcome.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';

    cf_case c;
    char err[512] = "";
    int rv = cf_case_parse(&c, "fuzz.case", text, err, sizeof(err));
    FUZZ_CHECK(rv == 0 || rv == -1, "cf_case_parse returned %d", rv);
    if (rv == 0) {
        FUZZ_CHECK(c.id[0] && c.title && c.role && c.n_covers && c.n_steps,
                   "an accepted case lacks id, title, role, covers or steps");
        FUZZ_CHECK(c.role != CF_ROLE_CLIENT || c.action[0], "a client case without an action");
        for (size_t i = 0; i < c.n_steps; i++)
            FUZZ_CHECK(c.steps[i].line >= 1 && c.steps[i].line <= lines,
                       "step %zu on line %d of %d", i, c.steps[i].line, lines);
        cf_case again;
        char err2[512] = "";
        FUZZ_CHECK(cf_case_parse(&again, "fuzz.case", text, err2, sizeof(err2)) == 0,
                   "the second parse failed: %s", err2);
        FUZZ_CHECK(strcmp(again.id, c.id) == 0 && again.n_steps == c.n_steps &&
                       again.n_covers == c.n_covers && again.role == c.role,
                   "two parses of one text differ");
        cf_case_free(&again);
    } else {
        FUZZ_CHECK(err[0] != '\0', "a case was rejected without a reason");
    }
    cf_case_free(&c);
    free(text);
    return 0;
}
