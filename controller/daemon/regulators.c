/* regulators: the daemon's side of the regulators (engine/regulate.h has the laws): one
 * step per regulator each evaluation (per target with a targets section), each change
 * written to the audit log before it is applied through its actions ({{output}},
 * {{previous_output}}, {{ $labels.NAME }}), the output kept in the state file (the last
 * applied value: what a webhook or exec has no other way to read back), a separate hourly
 * budget, pause and dry runs, the API's view and the metrics.
 *
 * What a step does with the daemon's state, first match wins:
 *   paused (the emergency stop, or     the output holds; nothing computed
 *   the target's pause)
 *   regulate.h's step: unknown or stale signal, settling, inactive, tolerance, the law
 *   the state uncertain while          the output holds (as an unknown signal)
 *   active_in depends on it
 *   no change                          nothing recorded; the last step is kept for the API
 *   budget exhausted                   the change waits (limits.max_regulator_changes_per_hour,
 *                                      per regulator and target; recorded once an hour)
 *   dry run (--dry-run, dry_run:)      recorded as dry_run; the output moves in the state,
 *                                      as the world would have seen it, nothing is sent
 *   otherwise                          a regulator_change record, then the actions; all ok:
 *                                      the output is the new one; one failed: the old one
 *                                      stays (the next step tries again)
 * An evaluation's records are written first and synced once (no change is applied when
 * that fails), then the changes are applied one at a time outside the lock.
 *
 * The state file keeps, per regulator name, {output, last_change, change_times, up, down,
 * events} (the stabilization windows' slices, the changes the behavior policies count): a
 * restart neither forgets the output nor repeats a change; a reload carries the state over
 * by name. The controller's runs keep their last REGULATOR_HISTORY steps for the charts; a
 * target's runs keep them only for the first REGULATOR_TARGET_HISTORIES targets (its page
 * draws them; the list of every target's runs leaves them out): about 2.2 KiB per
 * regulator and target without, 5 KiB with. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"
#include "parse.h"
#include "step.h"

#define HOUR_SECONDS 3600.0

/* ---- runs and their saved state ---- */

static json_t *slices_json(const struct regulator_slice *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < REGULATOR_WINDOW_SLICES; i++)
        if (s[i].start > 0)
            json_array_append_new(a, json_pack("[f,f,f]", s[i].start, s[i].lo, s[i].hi));
    return a;
}

static void slices_restore(struct regulator_slice *s, const json_t *a)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < REGULATOR_WINDOW_SLICES; i++) {
        const json_t *x = json_array_get(a, i);
        double start = json_number_value(json_array_get(x, 0));
        double lo = json_number_value(json_array_get(x, 1));
        double hi = json_number_value(json_array_get(x, 2));
        if (json_array_size(x) == 3 && start > 0 && isfinite(lo) && isfinite(hi))
            s[n++] = (struct regulator_slice){start, lo, hi};
    }
}

/* The behavior policies' changes: [[at, change], ...], oldest first. */
static json_t *events_json(const struct regulator_event *e)
{
    json_t *a = json_array();
    for (size_t i = 0; i < REGULATOR_EVENTS; i++)
        if (e[i].at > 0)
            json_array_append_new(a, json_pack("[f,f]", e[i].at, e[i].change));
    return a;
}

static void events_restore(struct regulator_event *e, const json_t *a)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < REGULATOR_EVENTS; i++) {
        const json_t *x = json_array_get(a, i);
        double at = json_number_value(json_array_get(x, 0));
        double change = json_number_value(json_array_get(x, 1));
        if (json_array_size(x) == 2 && at > 0 && isfinite(at) && isfinite(change))
            e[n++] = (struct regulator_event){at, change};
    }
}

json_t *regulator_runs_state(const struct rules *r, const struct regulator_run *runs)
{
    json_t *all = json_object();
    for (size_t i = 0; runs && i < r->n_regulators; i++) {
        const struct regulator_run *run = &runs[i];
        json_t *o = json_object();
        json_object_set_new(o, "output", json_real(run->st.output));
        json_object_set_new(o, "last_change", json_real(run->st.last_change));
        json_object_set_new(o, "change_times", json_incref(run->change_times));
        json_object_set_new(o, "up", slices_json(run->st.up));
        json_object_set_new(o, "down", slices_json(run->st.down));
        json_object_set_new(o, "events", events_json(run->st.events));
        json_object_set_new(all, r->regulators[i].name, o);
    }
    return all;
}

void regulator_runs_free(struct regulator_run *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++) {
        json_decref(runs[i].change_times);
        free(runs[i].hist);
    }
    free(runs);
}

struct regulator_run *regulator_runs_new(const struct rules *r, const json_t *saved, bool history)
{
    if (r->n_regulators == 0)
        return NULL;
    struct regulator_run *runs = calloc(r->n_regulators, sizeof(*runs));
    if (!runs)
        return NULL;
    for (size_t i = 0; i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        struct regulator_run *run = &runs[i];
        regulator_state_init(d, &run->st);
        run->change_times = json_array();
        run->hist = history ? calloc(REGULATOR_HISTORY, sizeof(*run->hist)) : NULL;
        if (!run->change_times || (history && !run->hist)) {
            regulator_runs_free(runs, r->n_regulators);
            return NULL;
        }
        const json_t *o = json_object_get(saved, d->name);
        if (!json_is_object(o))
            continue;
        const json_t *out = json_object_get(o, "output");
        if (json_is_number(out) && isfinite(json_number_value(out))) /* within today's bounds */
            run->st.output = fmin(d->out_max, fmax(d->out_min, json_number_value(out)));
        run->st.last_change = json_number_value(json_object_get(o, "last_change"));
        slices_restore(run->st.up, json_object_get(o, "up"));
        slices_restore(run->st.down, json_object_get(o, "down"));
        events_restore(run->st.events, json_object_get(o, "events"));
        const json_t *times = json_object_get(o, "change_times");
        for (size_t k = 0; k < json_array_size(times); k++)
            if (json_is_number(json_array_get(times, k)))
                json_array_append(run->change_times, json_array_get(times, k));
    }
    return runs;
}

int regulators_init(struct controller *c)
{
    const struct rules *r = c->rules;
    regulators_free(c);
    if (r->n_regulators == 0 || r->targets.by) {
        json_object_clear(c->st.regulators);
        return 0;
    }
    c->regs = regulator_runs_new(r, c->st.regulators, true);
    if (!c->regs)
        return -ENOMEM;
    c->n_regs = r->n_regulators;
    json_decref(c->st.regulators); /* regulators the rules no longer have are forgotten */
    c->st.regulators = regulator_runs_state(r, c->regs);
    return c->st.regulators ? 0 : -ENOMEM;
}

void regulators_free(struct controller *c)
{
    regulator_runs_free(c->regs, c->n_regs);
    c->regs = NULL;
    c->n_regs = 0;
}

/* ---- one step of every regulator of a run set ---- */

static void expire(json_t *times, double now)
{
    for (size_t i = json_array_size(times); i-- > 0;)
        if (now - json_number_value(json_array_get(times, i)) >= HOUR_SECONDS)
            json_array_remove(times, i);
}

static void count_change(struct controller *c, const char *name, const char *direction,
                         const char *result)
{
    struct metric *m =
        registry_series(c->m.reg_changes, (const char *const[]){name, direction, result, NULL});
    if (m)
        metric_add(m, 1);
}

static void history_add(struct regulator_run *run, double now)
{
    if (!run->hist)
        return;
    struct regulator_point *p = &run->hist[run->hist_next];
    p->time = now;
    p->output = run->st.output;
    p->signal = run->signal_known ? run->signal : NAN;
    run->hist_next = (run->hist_next + 1) % REGULATOR_HISTORY;
    if (run->n_hist < REGULATOR_HISTORY)
        run->n_hist++;
}

/* "16" for an integer output, else "%.6g". */
static void fmt_output(const struct regulator_def *d, double v, char *buf, size_t size)
{
    snprintf(buf, size, d->integer ? "%.0f" : "%.6g", v);
}

/* A change recorded and waiting to be applied. */
struct pending {
    struct regulator_run *run;
    struct target *t; /* NULL: the controller's */
    size_t i;         /* the regulator */
    char id[64];
    double prev, out;
    struct regulator_state before; /* to revert to when the change is not applied */
    char direction[8];
};

struct plan {
    struct pending *list;
    size_t n, cap;
    bool oom;
    bool moved; /* an output moved without being applied (a dry run) */
};

/* One step of each regulator of runs (a target's, or the controller's with t NULL), lock
 * held: the changes to apply are added to p, their records written without a sync. */
static void plan_runs(struct controller *c, struct regulator_run *runs, struct target *t, size_t to,
                      bool uncertain, const struct signal_value *values, bool paused, double now,
                      struct plan *p)
{
    const struct rules *r = c->rules;
    for (size_t i = 0; i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        struct regulator_run *run = &runs[i];
        const struct signal_value *sv = values ? &values[d->signal] : NULL;
        run->signal_known = sv && sv->known && isfinite(sv->value);
        run->signal = sv ? sv->value : NAN;
        run->last_time = now;
        run->paused = paused;
        if (paused) {
            char o[64];
            fmt_output(d, run->st.output, o, sizeof(o));
            snprintf(run->last.explanation, sizeof(run->last.explanation), "paused: %s held at %s",
                     d->output_name ? d->output_name : d->name, o);
            run->last.why = REG_UNKNOWN;
            run->last.change = false;
            history_add(run, now);
            continue;
        }
        struct regulator_input in; /* as test and backtest take it (engine/step.h) */
        step_regulator_input(r, d, to, uncertain, values, now, &in);
        run->signal_known = in.known;
        struct regulator_state before = run->st;
        struct regulator_step step;
        regulator_step(d, &run->st, r->signals[d->signal].name, &in, &step);
        run->last = step;
        if (!step.change) {
            history_add(run, now);
            continue;
        }
        const char *direction = step.direction > 0 ? "up" : "down";
        expire(run->change_times, now);
        unsigned max = r->max_regulator_changes_per_hour;
        bool dry = c->cli.dry_run || d->dry_run;
        bool budget = max && json_array_size(run->change_times) >= max;
        const char *outcome = budget ? "budget_exhausted" : dry ? "dry_run" : "applied";
        if (budget) {
            /* the change waits; the windows keep this step's recommendation */
            regulator_revert(&run->st, &before);
            size_t len = strlen(run->last.explanation);
            snprintf(run->last.explanation + len, sizeof(run->last.explanation) - len,
                     "; held: %u changes in the last hour (max_regulator_changes_per_hour)", max);
            run->last.change = false;
        }
        char id[64];
        controller_new_id(c, now, id, sizeof(id));
        int ar = 0;
        if (!budget || !run->budget_recorded) { /* a held change is recorded once */
            json_t *rec = controller_record("regulator_change", id, now);
            if (t)
                json_object_set_new(rec, "target", json_deep_copy(t->labels));
            json_object_set_new(rec, "regulator", json_string(d->name));
            json_object_set_new(rec, "signal", json_string(r->signals[d->signal].name));
            json_object_set_new(rec, "value", json_num(run->signal));
            json_object_set_new(rec, "setpoint", json_real(d->setpoint));
            json_object_set_new(rec, "law", json_string(regulator_law_name(d->law)));
            json_object_set_new(rec, "previous_output", json_real(step.previous));
            json_object_set_new(rec, "output", json_real(step.output));
            json_object_set_new(rec, "recommended", json_num(step.recommended));
            json_object_set_new(rec, "direction", json_string(direction));
            json_object_set_new(rec, "state", json_string(eval_state_name(r, to)));
            json_object_set_new(rec, "outcome", json_string(outcome));
            json_object_set_new(rec, "explanation", json_string(run->last.explanation));
            ar = audit_append_nosync(c->audit, rec);
            json_decref(rec);
        }
        run->budget_recorded = budget;
        if (ar < 0) {
            metric_add(c->m.audit_errors, 1);
            log_error_errno(ar, "audit: cannot record regulator %s's change in %s; not applied",
                            d->name, audit_path(c->audit));
            run->st = before;
            run->last.change = false;
            history_add(run, now);
            continue;
        }
        if (budget) {
            count_change(c, d->name, direction, "budget_exhausted");
            history_add(run, now);
            continue;
        }
        json_array_append_new(run->change_times, json_real(now));
        if (dry) {
            log_info("regulator %s%s%s (dry run): %s", d->name, t ? " " : "", t ? t->key : "",
                     run->last.explanation);
            count_change(c, d->name, direction, "dry_run");
            history_add(run, now);
            p->moved = true;
            continue;
        }
        if (p->n == p->cap) {
            size_t cap = p->cap ? 2 * p->cap : 16;
            struct pending *l = realloc(p->list, cap * sizeof(*l));
            if (!l) { /* recorded, not applied: the output stays, the next step tries again */
                p->oom = true;
                regulator_revert(&run->st, &before);
                history_add(run, now);
                continue;
            }
            p->list = l;
            p->cap = cap;
        }
        struct pending *x = &p->list[p->n++];
        x->run = run;
        x->t = t;
        x->i = i;
        snprintf(x->id, sizeof(x->id), "%s", id);
        x->prev = step.previous;
        x->out = step.output;
        x->before = before;
        snprintf(x->direction, sizeof(x->direction), "%s", direction);
    }
}

/* What the world has of the output now, through the first of the regulator's actions
 * that can read it back (kubectl scale, a systemd property; see actuator.h): 0 with
 * *ret in the output's units (the action's own units scaled by output / asked), -EOPNOTSUPP
 * when none can, -EIO (logged) when the read failed. act_lock held. */
static int read_back(struct controller *c, const struct regulator_def *d, const struct pending *x,
                     const struct action_ctx *ctx, double *ret)
{
    for (size_t k = 0; k < d->n_actions; k++) {
        double now_v, asked;
        char msg[512] = "";
        int r = actuator_read(&d->actions[k], ctx, &now_v, &asked, msg, sizeof(msg));
        if (r == -EOPNOTSUPP)
            continue;
        if (r < 0) {
            log_warning("regulator %s%s%s: cannot read the output back: %s", d->name,
                        x->t ? " " : "", x->t ? x->t->key : "", msg);
            return r;
        }
        if (isinf(now_v)) /* no limit in the world: the most the regulator gives */
            *ret = d->out_max;
        else if (asked > 0 && isfinite(asked))
            *ret = now_v * x->out / asked;
        else
            return -EOPNOTSUPP;
        (void)c;
        return 0;
    }
    return -EOPNOTSUPP;
}

/* Applies one planned change through its regulator's actions, outside the lock (act_lock
 * taken here: the rules are not swapped meanwhile). Before it, the output is read back
 * where the world has it: when it is not what the regulator last applied (a human, or
 * anything else, changed it), nothing is applied and *ret_world has the world's value.
 * Returns how many actions failed. */
static size_t apply_change(struct controller *c, const struct pending *x, double now,
                           double *ret_world)
{
    size_t failed = 0;
    *ret_world = NAN;
    pthread_mutex_lock(&c->act_lock);
    pthread_mutex_lock(&c->lock);
    const struct regulator_def *d = &c->rules->regulators[x->i];
    json_t *args = json_object();
    if (d->integer) {
        json_object_set_new(args, "output", json_integer((json_int_t)llround(x->out)));
        json_object_set_new(args, "previous_output", json_integer((json_int_t)llround(x->prev)));
    } else {
        json_object_set_new(args, "output", json_real(x->out));
        json_object_set_new(args, "previous_output", json_real(x->prev));
    }
    char expl[sizeof(x->run->last.explanation)], name[RULES_MAX_NAME + 1], out[64], prev[64];
    snprintf(expl, sizeof(expl), "%s", x->run->last.explanation);
    snprintf(name, sizeof(name), "%s", d->name);
    fmt_output(d, x->out, out, sizeof(out));
    fmt_output(d, x->prev, prev, sizeof(prev));
    const json_t *labels = x->t ? x->t->labels : NULL; /* only this thread changes them */
    const char *who = x->t ? x->t->key : "";
    pthread_mutex_unlock(&c->lock);
    struct action_ctx rctx;
    memset(&rctx, 0, sizeof(rctx));
    rctx.decision_id = x->id;
    rctx.state = name;
    rctx.from = "";
    rctx.reasoning = expl;
    rctx.time = now;
    rctx.args = args;
    rctx.labels = labels;
    rctx.env = &c->env;
    double world;
    if (read_back(c, d, x, &rctx, &world) == 0) {
        double tol = d->resolution > 0 ? d->resolution / 2 : 1e-9 * fmax(1, fabs(x->prev));
        if (fabs(world - x->prev) > tol) {
            *ret_world = world;
            json_decref(args);
            pthread_mutex_unlock(&c->act_lock);
            return 0;
        }
    }
    for (size_t k = 0; k < d->n_actions; k++) {
        const struct action_def *a = &d->actions[k];
        struct action_ctx ctx;
        memset(&ctx, 0, sizeof(ctx));
        ctx.decision_id = x->id;
        ctx.state = name;
        ctx.from = "";
        ctx.reasoning = expl;
        ctx.confidence = 1;
        ctx.time = now;
        ctx.args = args;
        ctx.labels = labels;
        ctx.env = &c->env;
        char *shown = labels ? actuator_with_labels(a->summary, labels) : NULL;
        const char *summary = shown ? shown : a->summary;
        struct action_result ar;
        uint64_t t0 = now_usec();
        char why[300];
        if (replicas_fence(c, why, sizeof(why)) < 0) {
            memset(&ar, 0, sizeof(ar));
            action_fail(&ar, ACT_FAIL, "not run: %s", why);
        } else {
            actions_mark(c, (int)a->kind, a->params);
            actuator_run(a, &ctx, &ar, NULL);
            actions_mark(c, -1, NULL);
        }
        double secs = (double)(now_usec() - t0) / 1e6;
        double ended = now_realtime(); /* the record's time: the action's end */
        if (ar.status != ACT_OK) {
            failed++;
            log_error("regulator %s%s%s: %s -> %s: %s failed: %s", name, *who ? " " : "", who, prev,
                      out, summary, ar.error);
        } else {
            log_info("regulator %s%s%s: %s -> %s: %s: ok", name, *who ? " " : "", who, prev, out,
                     summary);
        }
        pthread_mutex_lock(&c->lock);
        actions_record_result(c, x->id, k, a->kind, summary, "regulator", &ar, secs, ended, labels);
        pthread_mutex_unlock(&c->lock);
        enum act_status status = ar.status;
        action_result_clear(&ar);
        free(shown);
        if (status != ACT_OK)
            break; /* the output is not the new one: the rest would apply a half change */
    }
    json_decref(args);
    pthread_mutex_unlock(&c->act_lock);
    return failed;
}

/* Syncs the plan's records and applies its changes (called with the lock held; returns
 * with it held, released meanwhile). */
static void carry_out(struct controller *c, struct plan *p, double now)
{
    int as = audit_sync(c->audit);
    if (as < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(as, "audit: cannot sync the regulators' changes to %s; none applied",
                        audit_path(c->audit));
    }
    for (size_t k = 0; k < p->n; k++) {
        struct pending *x = &p->list[k];
        size_t failed = 1;
        double world = NAN;
        if (as >= 0) {
            pthread_mutex_unlock(&c->lock);
            failed = apply_change(c, x, now, &world);
            pthread_mutex_lock(&c->lock);
        }
        const struct regulator_def *d = &c->rules->regulators[x->i];
        const char *name = d->name;
        if (!isnan(world)) {
            /* someone else moved the output: the regulator goes on from the world's value,
             * after settle, and does not apply its own */
            char was[64], now_text[64];
            fmt_output(d, x->prev, was, sizeof(was));
            fmt_output(d, world, now_text, sizeof(now_text));
            regulator_revert(&x->run->st, &x->before); /* its change was not applied */
            x->run->st.output = fmin(d->out_max, fmax(d->out_min, world));
            x->run->st.last_change = now;
            char text[640];
            snprintf(text, sizeof(text),
                     "read back: %s is %s where it is applied, not %s as last applied (changed "
                     "by someone else); going on from %s after settle, %s not applied",
                     d->output_name ? d->output_name : name, now_text, was, now_text,
                     x->direction[0] == 'u' ? "the increase" : "the decrease");
            size_t cap = sizeof(x->run->last.explanation);
            size_t len = strnlen(text, cap - 1);
            memcpy(x->run->last.explanation, text, len);
            x->run->last.explanation[len] = '\0';
            x->run->last.why = REG_SETTLING;
            x->run->last.change = false;
            log_warning("regulator %s%s%s: %s", name, x->t ? " " : "", x->t ? x->t->key : "",
                        x->run->last.explanation);
            json_t *rec = controller_record("regulator_read_back", x->id, now);
            if (x->t)
                json_object_set_new(rec, "target", json_deep_copy(x->t->labels));
            json_object_set_new(rec, "regulator", json_string(name));
            json_object_set_new(rec, "expected", json_real(x->prev));
            json_object_set_new(rec, "found", json_real(world));
            json_object_set_new(rec, "not_applied", json_real(x->out));
            json_object_set_new(rec, "explanation", json_string(x->run->last.explanation));
            int ar = audit_append(c->audit, rec);
            json_decref(rec);
            if (ar < 0)
                metric_add(c->m.audit_errors, 1);
            count_change(c, name, x->direction, "read_back");
            history_add(x->run, now);
            continue;
        }
        if (failed) { /* the world keeps the old output; the windows keep the recommendation */
            regulator_revert(&x->run->st, &x->before);
            count_change(c, name, x->direction, "failed");
        } else {
            count_change(c, name, x->direction, "applied");
            verdicts_schedule_regulator(c, d, x->run, x->id, x->t, now); /* did it help? */
        }
        history_add(x->run, now);
    }
    if (p->n || p->oom)
        log_debug("regulators: %zu changes applied or tried", p->n);
}

void regulators_evaluate(struct controller *c, const struct eval_result *res,
                         const struct signal_value *values, double now)
{
    pthread_mutex_lock(&c->lock);
    if (!c->regs) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    struct plan p = {0};
    /* a standby holds its outputs as when paused: the leader moves them */
    plan_runs(c, c->regs, NULL, res->to, res->uncertain, values,
              c->st.paused || !replicas_may_act(c), now, &p);
    carry_out(c, &p, now);
    json_decref(c->st.regulators);
    c->st.regulators = regulator_runs_state(c->rules, c->regs);
    /* an output that moved is saved now; the windows go with the next evaluation's save */
    if (p.n || p.moved)
        controller_save_state(c);
    free(p.list);
    pthread_mutex_unlock(&c->lock);
}

void regulators_targets_evaluate(struct controller *c, double now)
{
    pthread_mutex_lock(&c->lock);
    const struct rules *r = c->rules;
    if (r->n_regulators == 0) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    struct plan p = {0};
    bool standby = !replicas_may_act(c);
    for (size_t i = 0; i < c->targets.n; i++) {
        struct target *t = c->targets.list[i];
        if (!t->regs || !t->have_eval || t->forgetting)
            continue;
        plan_runs(c, t->regs, t, t->last.to, t->last.uncertain, t->seen ? t->values : NULL,
                  c->st.paused || t->paused || standby, now, &p);
    }
    /* targets are removed only by this thread: the pointers of the plan stay valid */
    carry_out(c, &p, now);
    bool changed = p.n > 0 || p.moved;
    free(p.list);
    if (changed)
        controller_save_state(c);
    pthread_mutex_unlock(&c->lock);
}

/* ---- the API and the metrics ---- */

static json_t *run_json(const struct rules *r, size_t i, const struct regulator_run *run,
                        bool dry_run, bool history)
{
    const struct regulator_def *d = &r->regulators[i];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "signal", json_string(r->signals[d->signal].name));
    json_object_set_new(o, "value", run->signal_known ? json_real(run->signal) : json_null());
    json_object_set_new(o, "setpoint", json_real(d->setpoint));
    json_object_set_new(o, "law", json_string(regulator_law_name(d->law)));
    json_object_set_new(o, "output_name", json_string(d->output_name ? d->output_name : d->name));
    json_object_set_new(o, "output", json_real(run->st.output));
    json_object_set_new(o, "min", json_real(d->out_min));
    json_object_set_new(o, "max", json_real(d->out_max));
    json_object_set_new(o, "start", json_real(d->out_start));
    json_object_set_new(o, "last_change", json_time(run->st.last_change));
    json_object_set_new(o, "paused", json_boolean(run->paused));
    json_object_set_new(o, "dry_run", json_boolean(dry_run || d->dry_run));
    json_object_set_new(o, "last_step",
                        run->last_time > 0 ? json_string(regulator_why_name(run->last.why))
                                           : json_null());
    json_object_set_new(o, "explanation",
                        run->last_time > 0 ? json_string(run->last.explanation) : json_null());
    json_object_set_new(o, "changes_last_hour",
                        json_integer((json_int_t)json_array_size(run->change_times)));
    if (run->hist && history) {
        json_t *h = json_array();
        for (size_t k = 0; k < run->n_hist; k++) {
            size_t at = (run->hist_next + REGULATOR_HISTORY - run->n_hist + k) % REGULATOR_HISTORY;
            const struct regulator_point *pt = &run->hist[at];
            json_array_append_new(h,
                                  json_pack("{s:o,s:f,s:o}", "time", json_time(pt->time), "output",
                                            pt->output, "value", json_num(pt->signal)));
        }
        json_object_set_new(o, "history", h);
    }
    return o;
}

json_t *regulator_runs_json(struct controller *c, const struct regulator_run *runs)
{
    json_t *a = json_array();
    for (size_t i = 0; runs && i < c->rules->n_regulators; i++)
        json_array_append_new(a, run_json(c->rules, i, &runs[i], c->cli.dry_run, true));
    return a;
}

json_t *regulators_json(struct controller *c)
{
    if (!c->rules->targets.by)
        return regulator_runs_json(c, c->regs);
    /* with targets: per regulator, every target's output (the first 1000 by key) */
    const struct rules *r = c->rules;
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        json_t *o = json_object(), *targets = json_array();
        json_object_set_new(o, "name", json_string(d->name));
        json_object_set_new(o, "signal", json_string(r->signals[d->signal].name));
        json_object_set_new(o, "setpoint", json_real(d->setpoint));
        json_object_set_new(o, "law", json_string(regulator_law_name(d->law)));
        size_t n = 0;
        for (size_t k = 0; k < c->targets.n; k++) {
            const struct target *t = c->targets.list[k];
            if (!t->regs)
                continue;
            if (++n > 1000)
                continue;
            json_t *x = run_json(r, i, &t->regs[i], c->cli.dry_run, false);
            json_object_set_new(x, "target", json_deep_copy(t->labels));
            json_object_set_new(x, "id", json_string(t->id));
            json_array_append_new(targets, x);
        }
        json_object_set_new(o, "targets_total", json_integer((json_int_t)n));
        json_object_set_new(o, "targets", targets);
        json_array_append_new(a, o);
    }
    return a;
}

void regulators_publish(struct controller *c)
{
    rfamily_reset(c->m.reg_output);
    rfamily_reset(c->m.reg_setpoint);
    rfamily_reset(c->m.reg_signal);
    for (size_t i = 0; i < c->n_regs; i++) {
        const struct regulator_def *d = &c->rules->regulators[i];
        const struct regulator_run *run = &c->regs[i];
        const char *const l[] = {d->name, NULL};
        struct metric *m;
        if ((m = registry_series(c->m.reg_output, l)))
            metric_set(m, run->st.output);
        if ((m = registry_series(c->m.reg_setpoint, l)))
            metric_set(m, d->setpoint);
        if (run->signal_known && (m = registry_series(c->m.reg_signal, l)))
            metric_set(m, run->signal);
    }
    /* with targets, the setpoints here; the outputs per target (targets_api.c) */
    for (size_t i = 0; c->rules->targets.by && i < c->rules->n_regulators; i++) {
        struct metric *m = registry_series(
            c->m.reg_setpoint, (const char *const[]){c->rules->regulators[i].name, NULL});
        if (m)
            metric_set(m, c->rules->regulators[i].setpoint);
    }
}
