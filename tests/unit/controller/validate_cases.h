/* validate_cases: a table of action params for one kind, each with its verdict, offending
 * key and the start of its message, checked through actuator_validate as the rules loader
 * calls it (test-actuator-kubectl.c, test-actuator-alert.c). */
#ifndef HOMEOSTAT_TESTS_VALIDATE_CASES_H
#define HOMEOSTAT_TESTS_VALIDATE_CASES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "actuator.h"

struct validate_case {
    const char *params;
    bool ok;
    const char *bad_key; /* NULL: the action as a whole */
    const char *message; /* the start of the message */
};

/* The number of cases whose result differs from the table (each printed). */
static inline int validate_cases(enum action_kind kind, const struct validate_case *cases, size_t n)
{
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        json_error_t e;
        json_t *p = json_loads(cases[i].params, JSON_DECODE_ANY, &e);
        const char *bad = NULL;
        char msg[512] = "";
        int r = actuator_validate(kind, p, NULL, &bad, msg, sizeof(msg));
        bool ok = r == 0; /* bad points into p: compared before p goes */
        bool same_key = (!bad && !cases[i].bad_key) ||
                        (bad && cases[i].bad_key && strcmp(bad, cases[i].bad_key) == 0);
        bool same_msg = ok || (cases[i].message &&
                               strncmp(msg, cases[i].message, strlen(cases[i].message)) == 0);
        if (ok != cases[i].ok || (!ok && (!same_key || !same_msg))) {
            fprintf(stderr, "  %s: %s (key %s): %s\n", cases[i].params, ok ? "accepted" : "refused",
                    bad ? bad : "-", msg);
            wrong++;
        }
        json_decref(p);
    }
    return wrong;
}

#endif
