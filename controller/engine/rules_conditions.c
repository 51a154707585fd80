/* rules_conditions: the comparison operators and the condition parser of states
 * ("cpu_busy > 0.85", alert:NAME) and of the report section. */
#include "rules_loader.h"

static const struct {
    const char *text;
    enum cond_op op;
    const char *negated; /* what holds when op does not, as the reasoning writes it */
} cond_ops[] = {
    /* longest first, so that ">=" is not read as ">" */
    {">=", COND_GE, "<"},
    {"<=", COND_LE, ">"},
    {"==", COND_EQ, "\xe2\x89\xa0"}, /* ≠ */
    {"!=", COND_NE, "=="},
    {">", COND_GT, "\xe2\x89\xa4"}, /* ≤ */
    {"<", COND_LT, "\xe2\x89\xa5"}, /* ≥ */
};
#define N_COND_OPS (sizeof(cond_ops) / sizeof(cond_ops[0]))

const char *cond_op_text(enum cond_op op)
{
    for (size_t i = 0; i < N_COND_OPS; i++)
        if (cond_ops[i].op == op)
            return cond_ops[i].text;
    return "?";
}

const char *cond_op_negated_text(enum cond_op op)
{
    for (size_t i = 0; i < N_COND_OPS; i++)
        if (cond_ops[i].op == op)
            return cond_ops[i].negated;
    return "?";
}

size_t cond_op_parse(const char *s, enum cond_op *ret)
{
    for (size_t i = 0; i < N_COND_OPS; i++) {
        size_t len = strlen(cond_ops[i].text);
        if (strncmp(s, cond_ops[i].text, len) == 0) {
            *ret = cond_ops[i].op;
            return len;
        }
    }
    return 0;
}

bool cond_op_holds(enum cond_op op, double value, double threshold)
{
    switch (op) {
    case COND_GT: return value > threshold;
    case COND_GE: return value >= threshold;
    case COND_LT: return value < threshold;
    case COND_LE: return value <= threshold;
    case COND_EQ: return value == threshold;
    case COND_NE: return value != threshold;
    }
    return false;
}

/* ---- conditions ---- */

bool loader_op_char(char c)
{
    return c == '<' || c == '>' || c == '=' || c == '!' || c == '~';
}

/* Length of the run at s of characters other than whitespace, capped for messages. */
static int word_len(const char *s)
{
    size_t n = 0;
    while (s[n] && !isspace((unsigned char)s[n]))
        n++;
    return n > 32 ? 32 : (int)n;
}

/* Characters of an alert name after "alert:" (Alertmanager allows any label value; the
 * conditions' syntax takes the usual alertname characters). */
static bool alert_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':' || c == '.' || c == '-';
}

/* Appends the signal "alert:NAME" that a condition names for the first time. */
static bool add_alert_signal(struct loader *l, const struct ytree_node *n, const char *name,
                             size_t len, struct condition *c)
{
    struct rules *r = l->r;
    if (len > RULES_MAX_NAME + strlen(RULES_ALERT_PREFIX)) {
        loader_report(l, n, "alert name '%.*s' is longer than %d characters", (int)len, name,
                      RULES_MAX_NAME);
        return false;
    }
    if (r->n_signals >= RULES_MAX_SIGNALS) {
        loader_report(l, n, "more than %d signals", RULES_MAX_SIGNALS);
        return false;
    }
    struct signal_def *grown = realloc(r->signals, (r->n_signals + 1) * sizeof(*grown));
    if (!grown) {
        l->oom = true;
        return false;
    }
    r->signals = grown;
    struct signal_def *sd = &r->signals[r->n_signals];
    memset(sd, 0, sizeof(*sd));
    sd->name = strndup(name, len);
    if (!sd->name) {
        l->oom = true;
        return false;
    }
    sd->alert = true;
    c->signal = r->n_signals++;
    return true;
}

/* The threshold after a condition's operator and the end of the condition: p points
 * past the operator and its spaces. One parser for the conditions of states and of the
 * report; the messages of a state's condition say more (a missing threshold, what came
 * instead, a number out of range) than the report's, and tests hold both sets. */
bool loader_threshold(struct loader *l, const struct ytree_node *n, const char *s, const char *p,
                      enum cond_op op, bool state, double *ret)
{
    if (state && !*p) {
        loader_report(l, n, "condition '%.80s': missing the threshold after '%s'", s,
                      cond_op_text(op));
        return false;
    }
    size_t num = 0;
    while (p[num] && (isdigit((unsigned char)p[num]) || strchr(".eE+-", p[num])))
        num++;
    if (num == 0) {
        if (state)
            loader_report(l, n, "condition '%.80s': expected a number after '%s', got '%.*s'", s,
                          cond_op_text(op), word_len(p), p);
        else
            loader_report(l, n, "condition '%.80s': expected a number after '%s'", s,
                          cond_op_text(op));
        return false;
    }
    char tmp[64];
    double v = 0;
    int r = -EINVAL;
    if (num < sizeof(tmp)) {
        memcpy(tmp, p, num);
        tmp[num] = '\0';
        r = parse_double(tmp, &v);
    }
    if (state && r == -ERANGE) {
        loader_report(l, n, "condition '%.80s': threshold '%.*s' is out of range", s, (int)num, p);
        return false;
    }
    if (r < 0 || !isfinite(v)) {
        loader_report(l, n, "condition '%.80s': '%.*s' is not a number", s,
                      num > 32 ? 32 : (int)num, p);
        return false;
    }
    p += num;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '%') {
        loader_report(
            l, n,
            "condition '%.80s': unexpected '%%' after the threshold: write the number in the "
            "query's unit (0.85 for 85 %% of a ratio)",
            s);
        return false;
    }
    if (*p) {
        loader_report(l, n, "condition '%.80s': unexpected '%.32s' after the threshold", s, p);
        return false;
    }
    *ret = v;
    return true;
}

/* A number at p (its length, 0 when none) into *ret. */
static size_t number_at(const char *p, double *ret)
{
    size_t num = 0;
    while (p[num] && (isdigit((unsigned char)p[num]) || strchr(".eE+-", p[num])))
        num++;
    char tmp[64];
    if (num == 0 || num >= sizeof(tmp))
        return 0;
    memcpy(tmp, p, num);
    tmp[num] = '\0';
    if (parse_double(tmp, ret) < 0 || !isfinite(*ret))
        return 0;
    return num;
}

static const char *skip_spaces(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* Whether the threshold part at p uses a baseline: "baseline(" or "NUMBER * baseline(". */
static bool is_baseline_threshold(const char *p)
{
    double v;
    size_t num = number_at(p, &v);
    if (num) {
        p = skip_spaces(p + num);
        if (*p != '*')
            return false;
        p = skip_spaces(p + 1);
    }
    return strncmp(p, "baseline", 8) == 0 && *skip_spaces(p + 8) == '(';
}

/* The baseline reference (signal, q): its index in r->baseline_refs, added when new; -1
 * (reported) when there are too many. */
static int baseline_ref(struct loader *l, const struct ytree_node *n, size_t signal, double q)
{
    struct rules *r = l->r;
    for (size_t i = 0; i < r->n_baseline_refs; i++)
        if (r->baseline_refs[i].signal == signal && r->baseline_refs[i].q == q)
            return (int)i;
    if (r->n_baseline_refs >= RULES_MAX_BASELINE_REFS) {
        loader_report(l, n, "more than %d different baseline(SIGNAL, q=Q) in the conditions",
                      RULES_MAX_BASELINE_REFS);
        return -1;
    }
    struct baseline_ref *grown =
        realloc(r->baseline_refs, (r->n_baseline_refs + 1) * sizeof(*grown));
    if (!grown) {
        l->oom = true;
        return -1;
    }
    r->baseline_refs = grown;
    r->baseline_refs[r->n_baseline_refs] = (struct baseline_ref){signal, q};
    return (int)r->n_baseline_refs++;
}

/* "[FACTOR *] baseline(SIGNAL[, q=Q]) [or FALLBACK]" at p, the end of condition s. */
static bool parse_baseline_threshold(struct loader *l, const struct ytree_node *n, const char *s,
                                     const char *p, struct condition *c)
{
    double v;
    size_t num = number_at(p, &v);
    c->factor = 1;
    if (num) {
        if (!(v > 0)) {
            loader_report(l, n, "condition '%.80s': the factor of a baseline must be more than 0",
                          s);
            return false;
        }
        c->factor = v;
        p = skip_spaces(skip_spaces(p + num) + 1); /* past the '*' */
    }
    p = skip_spaces(skip_spaces(p + 8) + 1); /* past "baseline (" */
    const char *name = p;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    size_t name_len = (size_t)(p - name);
    p = skip_spaces(p);
    double q = 0.5;
    if (*p == ',') {
        p = skip_spaces(p + 1);
        if (*p != 'q' || *skip_spaces(p + 1) != '=') {
            loader_report(l, n, "condition '%.80s': expected q=QUANTILE after ',' in baseline()",
                          s);
            return false;
        }
        p = skip_spaces(skip_spaces(p + 1) + 1);
        num = number_at(p, &q);
        if (!num || !(q >= 0 && q <= 1)) {
            loader_report(l, n, "condition '%.80s': q must be a number between 0 and 1", s);
            return false;
        }
        p = skip_spaces(p + num);
    }
    if (name_len == 0 || *p != ')') {
        loader_report(
            l, n, "condition '%.80s': expected baseline(SIGNAL) or baseline(SIGNAL, q=0.99)", s);
        return false;
    }
    p = skip_spaces(p + 1);
    if (strncmp(p, "or", 2) == 0 && (isspace((unsigned char)p[2]) || !p[2])) {
        p = skip_spaces(p + 2);
        num = number_at(p, &c->fallback);
        if (!num) {
            loader_report(l, n,
                          "condition '%.80s': expected a number after 'or' (the threshold "
                          "while the baseline is not ready)",
                          s);
            return false;
        }
        c->has_fallback = true;
        p = skip_spaces(p + num);
    }
    if (*p) {
        loader_report(l, n, "condition '%.80s': unexpected '%.32s' after the baseline", s, p);
        return false;
    }
    if (!l->signals_ok)
        return false;
    int k = rules_signal_index_n(l->r, name, name_len);
    if (k < 0) {
        loader_report(l, n, "condition '%.80s': unknown signal '%.*s' in baseline()", s,
                      (int)name_len, name);
        return false;
    }
    if (!l->r->signals[k].baseline) {
        loader_report(l, n,
                      "condition '%.80s': signal '%.*s' learns no baseline (give it a "
                      "baseline: section)",
                      s, (int)name_len, name);
        return false;
    }
    int ref = baseline_ref(l, n, (size_t)k, q);
    if (ref < 0)
        return false;
    c->baseline = true;
    c->base_ref = (size_t)ref;
    c->threshold = c->threshold_file = c->has_fallback ? c->fallback : NAN;
    return true;
}

/* "signal OP number", whitespace-tolerant. Reports at n and returns false on an error; a
 * signal that cannot be resolved because the signals section is broken is not reported
 * again. */
bool loader_parse_condition(struct loader *l, const struct ytree_node *n, struct condition *c)
{
    const char *s;
    if (!loader_get_string(l, n, &s))
        return false;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    const char *name = p;
    bool alert = strncmp(p, RULES_ALERT_PREFIX, strlen(RULES_ALERT_PREFIX)) == 0;
    if (alert) {
        p += strlen(RULES_ALERT_PREFIX);
        if (!alert_name_char(*p)) {
            loader_report(l, n,
                          "condition '%.80s': expected an alert name after 'alert:', such as "
                          "'alert:HighErrorRate == 1'",
                          s);
            return false;
        }
        while (alert_name_char(*p))
            p++;
    } else if (!(isalpha((unsigned char)*p) || *p == '_')) {
        loader_report(l, n,
                      "condition '%.80s' does not start with a signal name: expected 'SIGNAL OP "
                      "NUMBER' such as 'cpu_busy > 0.85'",
                      s);
        return false;
    }
    while (!alert && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    int name_len = (int)(p - name);
    while (isspace((unsigned char)*p))
        p++;
    enum cond_op op = COND_GT;
    size_t op_len = cond_op_parse(p, &op);
    /* "=>", "<>", "===", "=": an operator-like run that is not one of ours. */
    size_t run = 0;
    while (loader_op_char(p[run]))
        run++;
    if (op_len == 0 || run != op_len) {
        if (!*p)
            loader_report(l, n,
                          "condition '%.80s': expected an operator (>, >=, <, <=, == or !=) after "
                          "'%.*s'",
                          s, name_len, name);
        else
            loader_report(l, n,
                          "condition '%.80s': expected an operator (>, >=, <, <=, == or !=) after "
                          "'%.*s', got '%.*s'",
                          s, name_len, name, run ? (int)(run > 32 ? 32 : run) : word_len(p), p);
        return false;
    }
    c->op = op;
    p += run;
    while (isspace((unsigned char)*p))
        p++;
    if (!alert && is_baseline_threshold(p)) {
        if (!parse_baseline_threshold(l, n, s, p, c))
            return false;
    } else {
        double v;
        if (!loader_threshold(l, n, s, p, op, true, &v))
            return false;
        c->threshold = v;
        c->threshold_file = v;
    }
    c->text = loader_dup_str(l, s);
    if (!c->text)
        return false;
    int known = rules_signal_index_n(l->r, name, (size_t)name_len);
    if (alert && (l->signals_ok || l->no_signals) && known >= 0) {
        c->signal = (size_t)known;
        return true;
    }
    if (alert && (l->signals_ok || l->no_signals))
        return add_alert_signal(l, n, name, (size_t)name_len, c);
    if (!l->signals_ok)
        return false; /* the signals section's own error says enough */
    struct rules *rules = l->r;
    if (known >= 0) {
        c->signal = (size_t)known;
        return true;
    }
    char want[RULES_MAX_NAME + 1];
    snprintf(want, sizeof(want), "%.*s", name_len, name);
    const char **names = loader_alloc_array(l, rules->n_signals, sizeof(*names));
    if (!names)
        return false;
    for (size_t i = 0; i < rules->n_signals; i++)
        names[i] = rules->signals[i].name;
    const char *hint = ytree_suggest(want, names, rules->n_signals);
    if (hint)
        loader_report(l, n, "unknown signal '%s' (did you mean '%s'?)", want, hint);
    else
        loader_report(l, n, "unknown signal '%s'", want);
    free(names);
    return false;
}
