/* fuzz_rules: the controller's rules YAML (--config) through rules_load_string: loaded, or
 * refused with at least one "NAME:LINE:COL: message" error. Loaded rules are rendered as
 * for GET /api/v1/rules and, for each manual action, their parameters are checked against
 * an empty set of arguments. Nothing is read from the paths the file names. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct rules *r = NULL;
    int rc = rules_load_string((const char *)data, size, "fuzz.yaml", &r, &errors);
    if (rc == 0) {
        if (!r || r->n_states == 0)
            fuzz_fail("rules_load_string returned 0 without states");
        json_t *j = rules_to_json(r);
        char *text = json_dumps(j, JSON_COMPACT);
        if (!text)
            fuzz_fail("the loaded rules do not render as JSON");
        free(text);
        json_decref(j);
        for (size_t i = 0; i < r->n_manual_actions; i++) {
            char msg[1024];
            json_decref(rules_manual_args(&r->manual_actions[i], NULL, msg, sizeof(msg)));
        }
        rules_free(r);
    } else if (rc == -EINVAL && (!errors.data || !strstr(errors.data, "fuzz.yaml"))) {
        fuzz_fail("rules refused without an error naming its source: '%s'",
                  errors.data ? errors.data : "");
    }
    buf_free(&errors);
    return 0;
}
