/* rules_regulators: the regulators section (docs/RULES.md, "Regulators"): per regulator its
 * signal and setpoint, the output's bounds, the law and its parameters, tolerance,
 * max_step, stabilization, behavior (the HPA's rate policies), the states it is active in,
 * and the actions that apply the output ({{output}}, {{previous_output}}). */
#include "rules_loader.h"

/* "10%" or a fraction (0.1) into *ret, which must lie in [lo, hi]. */
static bool get_fraction(struct loader *l, const struct ytree_node *n, const char *what, double lo,
                         double hi, double *ret)
{
    const char *s = ytree_text(n, NULL);
    double v;
    if (ytree_kind(n) != YTREE_SCALAR || !s) {
        loader_report(l, n, "%s: expected a percentage (\"10%%\") or a fraction, got %s", what,
                      ytree_describe(n));
        return false;
    }
    size_t len = strlen(s);
    if (len > 1 && len < 64 && s[len - 1] == '%') {
        char num[64];
        memcpy(num, s, len - 1);
        num[len - 1] = 0;
        if (parse_double(num, &v) < 0) {
            loader_report(l, n, "%s: '%.64s' is not a percentage", what, s);
            return false;
        }
        v /= 100;
    } else if (parse_double(s, &v) < 0) {
        loader_report(l, n, "%s: expected a percentage (\"10%%\") or a fraction, got '%.64s'", what,
                      s);
        return false;
    }
    if (!(v >= lo && v <= hi)) {
        loader_report(l, n, "%s must be between %g%% and %g%%, got '%.64s'", what, lo * 100,
                      hi * 100, s);
        return false;
    }
    *ret = v;
    return true;
}

static bool get_number(struct loader *l, const struct ytree_node *n, const char *what, double *ret)
{
    double v;
    if (ytree_get_double(n, &v, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    if (!isfinite(v)) {
        loader_report(l, n, "%s must be a finite number, got '%.64s'", what, ytree_text(n, NULL));
        return false;
    }
    *ret = v;
    return true;
}

static void load_output(struct loader *l, struct regulator_def *d, const struct ytree_node *v)
{
    static const char *const keys[] = {"min",  "max",        "start", "integer",
                                       "name", "resolution", NULL};
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *mn = ytree_get(v, "min"), *mx = ytree_get(v, "max"), *x;
    if (!mn || !mx) {
        loader_report(l, v, "output needs min and max");
        return;
    }
    if (!get_number(l, mn, "output.min", &d->out_min) ||
        !get_number(l, mx, "output.max", &d->out_max))
        return;
    if (!(d->out_min < d->out_max)) {
        loader_report(l, mx, "output.max (%g) must be more than output.min (%g)", d->out_max,
                      d->out_min);
        return;
    }
    d->out_start = d->out_max;
    if ((x = ytree_get(v, "start")) && get_number(l, x, "output.start", &d->out_start) &&
        (d->out_start < d->out_min || d->out_start > d->out_max))
        loader_report(l, x, "output.start (%g) must be between min (%g) and max (%g)", d->out_start,
                      d->out_min, d->out_max);
    if ((x = ytree_get(v, "integer")))
        loader_get_bool(l, x, &d->integer);
    if ((x = ytree_get(v, "resolution")) && get_number(l, x, "output.resolution", &d->resolution) &&
        d->resolution < 0)
        loader_report(l, x, "output.resolution must be 0 or more");
    if (d->integer) {
        if (d->resolution < 1)
            d->resolution = 1;
        if (d->out_min != floor(d->out_min) || d->out_max != floor(d->out_max) ||
            d->out_start != floor(d->out_start))
            loader_report(l, v, "an integer output needs whole min, max and start");
    }
    const char *s;
    if ((x = ytree_get(v, "name")) && loader_get_name(l, x, "output", &s))
        d->output_name = loader_dup_str(l, s);
}

static void load_steps(struct loader *l, const struct ytree_node *v, const char *what, double *up,
                       double *down, bool durations)
{
    static const char *const keys[] = {"up", "down", NULL};
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    for (int i = 0; i < 2; i++) {
        if (!(x = ytree_get(v, i ? "down" : "up")))
            continue;
        double *ret = i ? down : up;
        char name[64];
        snprintf(name, sizeof(name), "%s.%s", what, i ? "down" : "up");
        if (durations) {
            uint64_t u;
            if (loader_get_duration(l, x, &u))
                *ret = (double)u / USEC_PER_SEC;
        } else {
            /* a step down of 100 % would take the output to 0 */
            get_fraction(l, x, name, 0, i ? 0.99 : 100, ret);
        }
    }
}

static void load_law_params(struct loader *l, struct regulator_def *d, const struct ytree_node *v,
                            const char *law)
{
    static const char *const aimd_keys[] = {"increase", "decrease", NULL};
    static const char *const grad_keys[] = {"slope", "min", "max", NULL};
    if (!loader_get_map(l, v))
        return;
    const struct ytree_node *x;
    if (strcmp(law, "aimd") == 0) {
        loader_check_keys(l, v, aimd_keys);
        if ((x = ytree_get(v, "increase")) &&
            get_number(l, x, "aimd.increase", &d->aimd_increase) && !(d->aimd_increase > 0))
            loader_report(l, x, "aimd.increase must be more than 0");
        if ((x = ytree_get(v, "decrease")) &&
            get_number(l, x, "aimd.decrease", &d->aimd_decrease) &&
            !(d->aimd_decrease > 0 && d->aimd_decrease < 1))
            loader_report(l, x, "aimd.decrease is a factor between 0 and 1 (0.9), got %g",
                          d->aimd_decrease);
    } else {
        loader_check_keys(l, v, grad_keys);
        if ((x = ytree_get(v, "slope")) && get_number(l, x, "gradient.slope", &d->gradient_slope) &&
            !(d->gradient_slope > 0 && d->gradient_slope <= 10))
            loader_report(l, x, "gradient.slope must be more than 0 and at most 10");
        if ((x = ytree_get(v, "min")) && get_number(l, x, "gradient.min", &d->gradient_min) &&
            !(d->gradient_min > 0 && d->gradient_min <= 1))
            loader_report(l, x, "gradient.min must be more than 0 and at most 1");
        if ((x = ytree_get(v, "max")) && get_number(l, x, "gradient.max", &d->gradient_max) &&
            !(d->gradient_max >= 1 && d->gradient_max <= 100))
            loader_report(l, x, "gradient.max must be between 1 and 100");
    }
}

/* One direction of behavior: {select: max|min|disabled, policies: [{type: percent|units,
 * value: N, period: DURATION}, ...]}; the HPA's spellings (Max, Pods, Percent) too. */
static void load_behavior_dir(struct loader *l, struct regulator_def *d, const struct ytree_node *v,
                              bool up)
{
    static const char *const keys[] = {"select", "policies", NULL};
    static const char *const pkeys[] = {"type", "value", "period", NULL};
    static const char *const selects[] = {"max", "min", "disabled", "Max", "Min", "Disabled", NULL};
    static const char *const types[] = {"units", "percent", "pods", "Pods", "Percent", NULL};
    static const enum regulator_policy_kind type_kinds[] = {
        POLICY_UNITS, POLICY_PERCENT, POLICY_UNITS, POLICY_UNITS, POLICY_PERCENT};
    struct regulator_behavior *b = up ? &d->behavior_up : &d->behavior_down;
    const char *dir = up ? "up" : "down";
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    int k;
    if ((x = ytree_get(v, "select")) && loader_get_enum(l, x, "select", selects, &k))
        b->select = (enum regulator_select)(k % 3);
    if (!(x = ytree_get(v, "policies")))
        return;
    if (!loader_get_seq(l, x))
        return;
    size_t n = ytree_len(x);
    if (n == 0) {
        loader_report(l, x, "behavior.%s.policies is empty: leave it out (%s)", dir,
                      d->law == LAW_PROPORTIONAL ? "the HPA's defaults" : "no limit");
        return;
    }
    if (n > REGULATOR_MAX_POLICIES) {
        loader_report(l, x, "behavior.%s has %zu policies; at most %d", dir, n,
                      REGULATOR_MAX_POLICIES);
        return;
    }
    b->n_policies = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ytree_node *it = ytree_item(x, i), *y;
        struct regulator_policy p = {.kind = POLICY_UNITS};
        bool ok = true;
        if (!loader_get_map(l, it))
            continue;
        loader_check_keys(l, it, pkeys);
        if (!(y = ytree_get(it, "type"))) {
            loader_report(l, it, "a policy needs a type: percent or units (the HPA's Pods)");
            ok = false;
        } else if (loader_get_enum(l, y, "type", types, &k)) {
            p.kind = type_kinds[k];
        } else {
            ok = false;
        }
        if (!(y = ytree_get(it, "value"))) {
            loader_report(l, it, "a policy needs a value: how much the output may move per period");
            ok = false;
        } else if (!get_number(l, y, "value", &p.value)) {
            ok = false;
        } else if (!(p.value > 0)) {
            loader_report(l, y, "a policy's value must be more than 0, got %g", p.value);
            ok = false;
        } else if (p.kind == POLICY_UNITS && d->integer && p.value != floor(p.value)) {
            loader_report(l, y, "an integer output moves by whole units, got %g", p.value);
            ok = false;
        }
        uint64_t u = 0;
        if (!(y = ytree_get(it, "period"))) {
            loader_report(l, it, "a policy needs a period (15s): the time its value is allowed in");
            ok = false;
        } else if (!loader_get_duration(l, y, &u)) {
            ok = false;
        } else if (u < USEC_PER_SEC || u > 1800 * USEC_PER_SEC) {
            /* the HPA's bounds: more than 0 and at most 1800 s */
            loader_report(l, y, "a policy's period must be between 1s and 30m");
            ok = false;
        }
        p.period = (double)u / USEC_PER_SEC;
        if (ok)
            b->policies[b->n_policies++] = p;
    }
}

static void load_behavior(struct loader *l, struct regulator_def *d, const struct ytree_node *v)
{
    static const char *const keys[] = {"up", "down", NULL};
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    if ((x = ytree_get(v, "up")))
        load_behavior_dir(l, d, x, true);
    if ((x = ytree_get(v, "down")))
        load_behavior_dir(l, d, x, false);
}

static void load_active_in(struct loader *l, struct regulator_def *d, const struct ytree_node *v)
{
    struct rules *r = l->r;
    if (!loader_get_seq(l, v))
        return;
    size_t n = ytree_len(v);
    if (n == 0) {
        loader_report(l, v, "active_in is empty: leave it out to be active in every state");
        return;
    }
    d->active_in = loader_alloc_array(l, n, sizeof(*d->active_in));
    if (!d->active_in)
        return;
    const char **names = loader_alloc_array(l, r->n_states + 1, sizeof(*names));
    if (!names)
        return;
    for (size_t i = 0; i < r->n_states; i++)
        names[i] = r->states[i].name;
    for (size_t i = 0; i < n; i++) {
        const struct ytree_node *it = ytree_item(v, i);
        const char *s;
        if (!loader_get_string(l, it, &s))
            continue;
        int k = rules_state_index(r, s);
        if (k < 0) {
            if (!l->states_ok)
                continue;
            const char *hint = ytree_suggest(s, names, r->n_states);
            loader_report(l, it, "active_in: unknown state '%.64s'%s%s%s", s,
                          hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
            continue;
        }
        d->active_in[d->n_active_in++] = (size_t)k;
    }
    free(names);
}

static void load_regulator(struct loader *l, struct regulator_def *d, const struct ytree_node *v)
{
    static const char *const keys[] = {
        "signal",   "setpoint",      "output",    "increases_signal", "law",           "tolerance",
        "max_step", "stabilization", "active_in", "actions",          "dry_run",       "aimd",
        "gradient", "settle",        "behavior",  "verify_after",     "verify_window", NULL};
    static const char *const laws[] = {"proportional", "aimd", "gradient", NULL};
    struct rules *r = l->r;
    d->signal = NONE;
    d->law = LAW_PROPORTIONAL;
    d->tolerance = 0.1;
    d->aimd_increase = 1;
    d->aimd_decrease = 0.9;
    d->gradient_slope = 1;
    d->gradient_min = 0.5;
    d->gradient_max = 2;
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if (!(x = ytree_get(v, "signal"))) {
        loader_report(l, v, "regulator '%.64s' has no signal: the value it holds at the setpoint",
                      d->name);
    } else if (loader_get_string(l, x, &s)) {
        int k = rules_signal_index(r, s);
        if (k >= 0 && r->signals[k].alert)
            loader_report(l, x, "a regulator's signal must be a query, not '%.64s'", s);
        else if (k >= 0)
            d->signal = (size_t)k;
        else if (l->signals_ok) {
            const char **names = loader_alloc_array(l, r->n_signals + 1, sizeof(*names));
            const char *hint = NULL;
            if (names) {
                for (size_t i = 0; i < r->n_signals; i++)
                    names[i] = r->signals[i].name;
                hint = ytree_suggest(s, names, r->n_signals);
            }
            loader_report(l, x, "unknown signal '%.64s'%s%s%s", s, hint ? " (did you mean '" : "",
                          hint ? hint : "", hint ? "'?)" : "");
            free(names);
        }
    }
    if (!(x = ytree_get(v, "setpoint")))
        loader_report(l, v, "regulator '%.64s' has no setpoint", d->name);
    else if (get_number(l, x, "setpoint", &d->setpoint) && !(d->setpoint > 0))
        loader_report(l, x, "setpoint must be more than 0, got %g", d->setpoint);
    if (!(x = ytree_get(v, "output")))
        loader_report(l, v, "regulator '%.64s' has no output: {min: ..., max: ...}", d->name);
    else
        load_output(l, d, x);
    if (!(x = ytree_get(v, "increases_signal")))
        loader_report(l, v,
                      "regulator '%.64s': say whether a larger output makes the signal larger "
                      "(increases_signal: true, a concurrency limit and latency) or smaller "
                      "(false, replicas and utilization)",
                      d->name);
    else
        loader_get_bool(l, x, &d->increases_signal);
    int k;
    if ((x = ytree_get(v, "law")) && loader_get_enum(l, x, "law", laws, &k))
        d->law = (enum regulator_law)k;
    /* the HPA's defaults: a scale-down waits for the highest recommendation of 5 minutes,
     * and the behavior's rates (up: double or +4 per 15 s; down: 100 % per 15 s) */
    d->stab_down = d->law == LAW_PROPORTIONAL ? 300 : 0;
    if (d->law == LAW_PROPORTIONAL)
        regulator_behavior_hpa_defaults(d);
    if ((x = ytree_get(v, "behavior")))
        load_behavior(l, d, x);
    if ((x = ytree_get(v, "tolerance")))
        get_fraction(l, x, "tolerance", 0, 0.99, &d->tolerance);
    if ((x = ytree_get(v, "max_step")))
        load_steps(l, x, "max_step", &d->max_up, &d->max_down, false);
    if ((x = ytree_get(v, "stabilization")))
        load_steps(l, x, "stabilization", &d->stab_up, &d->stab_down, true);
    if ((x = ytree_get(v, "aimd"))) {
        if (d->law != LAW_AIMD)
            loader_report(l, x, "aimd settings with law %s", regulator_law_name(d->law));
        else
            load_law_params(l, d, x, "aimd");
    }
    if ((x = ytree_get(v, "gradient"))) {
        if (d->law != LAW_GRADIENT)
            loader_report(l, x, "gradient settings with law %s", regulator_law_name(d->law));
        else
            load_law_params(l, d, x, "gradient");
    }
    /* after a change the output holds this long: the signal must first show its effect */
    d->settle = 2 * (double)l->r->evaluation_interval_usec / USEC_PER_SEC;
    if ((x = ytree_get(v, "settle"))) {
        uint64_t u;
        if (loader_get_duration(l, x, &u))
            d->settle = (double)u / USEC_PER_SEC;
    }
    if ((x = ytree_get(v, "active_in")))
        load_active_in(l, d, x);
    if ((x = ytree_get(v, "dry_run")))
        loader_get_bool(l, x, &d->dry_run);
    if (!(x = ytree_get(v, "actions")) || ytree_is_null(x) ||
        (ytree_kind(x) == YTREE_SEQ && ytree_len(x) == 0)) {
        loader_report(l, x ? x : v,
                      "regulator '%.64s' has no actions: how its output is applied "
                      "({{output}})",
                      d->name);
        return;
    }
    /* what its actions may use: the target's labels, the output and the one before */
    size_t nl = 0;
    while (l->label_placeholders && l->label_placeholders[nl])
        nl++;
    const char **declared = loader_alloc_array(l, nl + 3, sizeof(*declared));
    if (!declared)
        return;
    for (size_t i = 0; i < nl; i++)
        declared[i] = l->label_placeholders[i];
    declared[nl] = "output";
    declared[nl + 1] = "previous_output";
    l->declared = declared;
    loader_load_actions(l, x, &d->actions, &d->n_actions);
    l->declared = NULL;
    free(declared);
    for (size_t i = 0; i < d->n_actions; i++)
        if (d->actions[i].kind == ACTION_ALERT)
            loader_report(l, ytree_item(x, i),
                          "an alert cannot apply a regulator's output (use a webhook, "
                          "kubectl, systemd or exec)");
    /* the verdicts of its changes, with a decision's defaults and limits */
    bool kubectl = false;
    for (size_t i = 0; i < d->n_actions; i++)
        kubectl |= d->actions[i].kind == ACTION_KUBECTL;
    d->verify_after_usec = (kubectl ? 120 : 60) * USEC_PER_SEC;
    d->verify_window_usec = 60 * USEC_PER_SEC;
    if ((x = ytree_get(v, "verify_after")) && loader_get_duration(l, x, &d->verify_after_usec) &&
        d->verify_after_usec > 86400 * USEC_PER_SEC)
        loader_report(l, x, "verify_after must be at most 1d (0s: no verdict)");
    if ((x = ytree_get(v, "verify_window")) && loader_get_duration(l, x, &d->verify_window_usec) &&
        (d->verify_window_usec < USEC_PER_SEC || d->verify_window_usec > 3600 * USEC_PER_SEC))
        loader_report(l, x, "verify_window must be between 1s and 1h");
}

void loader_load_regulators(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "regulators");
    if (!v || ytree_is_null(v) || !loader_get_map(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_REGULATORS) {
        loader_report(l, v, "more than %d regulators", RULES_MAX_REGULATORS);
        return;
    }
    r->regulators = loader_alloc_array(l, n, sizeof(*r->regulators));
    if (!r->regulators)
        return;
    r->n_regulators = n;
    for (size_t i = 0; i < n && !l->oom; i++) {
        struct regulator_def *d = &r->regulators[i];
        const char *name = NULL;
        if (loader_get_name(l, ytree_key(v, i), "regulator", &name))
            d->name = loader_dup_str(l, name);
        else
            d->name = loader_dup_str(l, "?");
        load_regulator(l, d, ytree_value(v, i));
    }
}

void rules_regulators_free(struct rules *r)
{
    for (size_t i = 0; i < r->n_regulators; i++) {
        struct regulator_def *d = &r->regulators[i];
        free(d->name);
        free(d->output_name);
        free(d->active_in);
        loader_free_actions(d->actions, d->n_actions);
    }
    free(r->regulators);
}

const struct regulator_def *rules_regulator(const struct rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_regulators; i++)
        if (strcmp(r->regulators[i].name, name) == 0)
            return &r->regulators[i];
    return NULL;
}
