/* act-driver: runs one actuator through the same code the daemon uses (actuator_validate,
 * actuator_run, actuator_revert) for the integration tests that put a real kubectl, a
 * private D-Bus, a webhook server or Alertmanager on the other side.
 *
 *   act-driver [FLAGS] validate KIND PARAMS_JSON
 *   act-driver [FLAGS] apply KIND PARAMS_JSON
 *   act-driver [FLAGS] revert KIND EXPANDED_PARAMS_JSON UNDO_JSON
 *
 * FLAGS: --kubectl=PATH --user-bus --alertmanager=URL (repeatable) --server-dry-run
 *        --args=JSON (manual parameters) --state=NAME --from=NAME --severity=S
 *        --reasoning=TEXT --confidence=X --id=ID --declare=NAME (repeatable)
 * Prints one JSON object: status (ok, retry, fail), error, attempts, detail, undo and the
 * expanded params. Exit 0 when ok, 1 when the action failed, 2 for bad usage or a
 * params object that does not validate (the message on stderr). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "parse.h"

static json_t *parse_json(const char *what, const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        fprintf(stderr, "act-driver: %s is not JSON: %s\n", what, e.text);
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kubectl", required_argument, NULL, 'k'},
        {"user-bus", no_argument, NULL, 'u'},
        {"alertmanager", required_argument, NULL, 'a'},
        {"server-dry-run", no_argument, NULL, 'd'},
        {"args", required_argument, NULL, 'A'},
        {"state", required_argument, NULL, 's'},
        {"from", required_argument, NULL, 'f'},
        {"severity", required_argument, NULL, 'S'},
        {"reasoning", required_argument, NULL, 'r'},
        {"confidence", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"declare", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    struct actuator_env env = {.alert_resend_usec = 60000000};
    char *ams[9] = {NULL};
    size_t n_ams = 0;
    const char *declared[17] = {NULL};
    size_t n_declared = 0;
    struct action_ctx ctx = {
        .decision_id = "test-1",
        .state = "critical",
        .from = "optimal",
        .reasoning = "cpu_busy=0.93 > 0.85",
        .confidence = 0.9,
        .time = now_realtime(),
        .env = &env,
    };
    json_t *args = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': env.kubectl_path = optarg; break;
        case 'u': env.systemd_user_bus = true; break;
        case 'a':
            if (n_ams < 8)
                ams[n_ams++] = optarg;
            env.alertmanagers = ams;
            break;
        case 'd': ctx.server_dry_run = true; break;
        case 'A':
            if (!(args = parse_json("--args", optarg)))
                return 2;
            ctx.args = args;
            break;
        case 's': ctx.state = optarg; break;
        case 'f': ctx.from = optarg; break;
        case 'S': ctx.severity = optarg; break;
        case 'r': ctx.reasoning = optarg; break;
        case 'c': ctx.confidence = strtod(optarg, NULL); break;
        case 'i': ctx.decision_id = optarg; break;
        case 'D':
            if (n_declared < 16)
                declared[n_declared++] = optarg;
            break;
        default: return 2;
        }
    }
    int n = argc - optind;
    int k = n >= 3 ? action_kind_parse(argv[optind + 1]) : -EINVAL;
    if (k < 0) {
        fprintf(stderr, "usage: act-driver [FLAGS] validate|apply|revert KIND PARAMS [UNDO]\n");
        return 2;
    }
    enum action_kind kind = (enum action_kind)k;
    const char *verb = argv[optind];
    json_t *params = parse_json("PARAMS", argv[optind + 2]);
    if (!params)
        return 2;
    const char *bad_key = NULL;
    char msg[512];
    if (strcmp(verb, "revert") != 0 &&
        actuator_validate(kind, params, declared, &bad_key, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "act-driver: invalid %s action: %s%s%s\n", argv[optind + 1],
                bad_key ? bad_key : "", bad_key ? ": " : "", msg);
        json_decref(params);
        json_decref(args);
        return 2;
    }
    if (strcmp(verb, "validate") == 0) {
        printf("{\"status\":\"valid\"}\n");
        json_decref(params);
        json_decref(args);
        return 0;
    }
    struct action_result res;
    json_t *expanded = NULL;
    if (strcmp(verb, "apply") == 0) {
        struct action_def a = {.kind = kind, .params = params, .summary = (char *)"test"};
        actuator_run(&a, &ctx, &res, &expanded);
    } else if (strcmp(verb, "revert") == 0 && n >= 4) {
        json_t *undo = parse_json("UNDO", argv[optind + 3]);
        if (!undo)
            return 2;
        actuator_revert(kind, params, undo, &ctx, &res);
        expanded = json_incref(params);
        json_decref(undo);
    } else {
        fprintf(stderr, "act-driver: unknown verb '%s' or missing UNDO\n", verb);
        return 2;
    }
    static const char *const names[] = {"ok", "retry", "fail"};
    json_t *out = json_object();
    json_object_set_new(out, "status", json_string(names[res.status]));
    json_object_set_new(out, "error", json_string(res.error));
    json_object_set_new(out, "attempts", json_integer(res.attempts));
    json_object_set_new(out, "detail", res.detail ? json_incref(res.detail) : json_null());
    json_object_set_new(out, "undo", res.undo ? json_incref(res.undo) : json_null());
    json_object_set_new(out, "params", expanded ? expanded : json_null());
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", text ? text : "{}");
    free(text);
    int rc = res.status == ACT_OK ? 0 : 1;
    action_result_clear(&res);
    json_decref(out);
    json_decref(params);
    json_decref(args);
    return rc;
}
