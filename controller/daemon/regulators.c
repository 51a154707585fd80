/* regulators: the daemon's side of the regulators (engine/regulate.h has the laws): one
 * step per regulator each evaluation, its change written to the audit log before it is
 * applied through its actions ({{output}}, {{previous_output}}), the output kept in the
 * state file (the last applied value: what a webhook or exec has no other way to read
 * back), a separate hourly budget, pause and dry runs, the API's view and the metrics.
 *
 * What a step does with the daemon's state, first match wins:
 *   paused (the emergency stop)        the output holds; nothing computed
 *   the signal unknown or stale,       the output holds (regulate.h: unknown)
 *   or the state uncertain while
 *   active_in depends on it
 *   no change                          nothing recorded; the last step is kept for the API
 *   budget exhausted                   the change waits (limits.max_regulator_changes_per_hour,
 *                                      per regulator; recorded once per hour at most)
 *   dry run (--dry-run, dry_run:)      recorded as dry_run; the output moves in the state,
 *                                      as the world would have seen it, nothing is sent
 *   otherwise                          a regulator_change record (audited, fsynced), then the
 *                                      actions; all ok: the output is the new one; one failed:
 *                                      it stays the old one (the next step tries again)
 *
 * The state file keeps, per regulator name, {output, last_change, change_times, up, down}
 * (the stabilization windows' slices): a restart neither forgets the output nor repeats a
 * change; a reload carries the state over by name. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"
#include "parse.h"

#define HOUR_SECONDS 3600.0

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

/* The saved state of run i into c->st.regulators (lock held). */
static void save_one(struct controller *c, size_t i)
{
    const struct regulator_def *d = &c->rules->regulators[i];
    const struct regulator_run *run = &c->regs[i];
    json_t *o = json_object();
    json_object_set_new(o, "output", json_real(run->st.output));
    json_object_set_new(o, "last_change", json_real(run->st.last_change));
    json_object_set_new(o, "change_times", json_incref(run->change_times));
    json_object_set_new(o, "up", slices_json(run->st.up));
    json_object_set_new(o, "down", slices_json(run->st.down));
    json_object_set_new(c->st.regulators, d->name, o);
}

int regulators_init(struct controller *c)
{
    const struct rules *r = c->rules;
    regulators_free(c);
    if (r->n_regulators == 0)
        return 0;
    c->regs = calloc(r->n_regulators, sizeof(*c->regs));
    if (!c->regs)
        return -ENOMEM;
    c->n_regs = r->n_regulators;
    for (size_t i = 0; i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        struct regulator_run *run = &c->regs[i];
        regulator_state_init(d, &run->st);
        run->change_times = json_array();
        if (!run->change_times)
            return -ENOMEM;
        const json_t *saved = json_object_get(c->st.regulators, d->name);
        if (json_is_object(saved)) {
            double out = json_number_value(json_object_get(saved, "output"));
            if (json_is_number(json_object_get(saved, "output")) && isfinite(out)) {
                /* the bounds may have changed since: the saved output within them */
                run->st.output = fmin(d->out_max, fmax(d->out_min, out));
            }
            run->st.last_change = json_number_value(json_object_get(saved, "last_change"));
            slices_restore(run->st.up, json_object_get(saved, "up"));
            slices_restore(run->st.down, json_object_get(saved, "down"));
            const json_t *times = json_object_get(saved, "change_times");
            for (size_t k = 0; k < json_array_size(times); k++)
                if (json_is_number(json_array_get(times, k)))
                    json_array_append(run->change_times, json_array_get(times, k));
        }
    }
    /* regulators the rules no longer have are forgotten */
    json_t *kept = json_object();
    for (size_t i = 0; i < r->n_regulators; i++) {
        json_t *o = json_object_get(c->st.regulators, r->regulators[i].name);
        if (o)
            json_object_set(kept, r->regulators[i].name, o);
    }
    json_decref(c->st.regulators);
    c->st.regulators = kept;
    for (size_t i = 0; i < r->n_regulators; i++)
        save_one(c, i);
    return 0;
}

void regulators_free(struct controller *c)
{
    for (size_t i = 0; i < c->n_regs; i++)
        json_decref(c->regs[i].change_times);
    free(c->regs);
    c->regs = NULL;
    c->n_regs = 0;
}

static bool active_in(const struct regulator_def *d, size_t state)
{
    if (d->n_active_in == 0)
        return true;
    for (size_t i = 0; i < d->n_active_in; i++)
        if (d->active_in[i] == state)
            return true;
    return false;
}

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
}

static void history_add(struct regulator_run *run, double now)
{
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
    if (d->integer)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.6g", v);
}

/* Applies the change of regulator i (record rec already audited). Returns how many actions
 * failed. No lock held; act_lock taken here. */
static size_t apply_change(struct controller *c, size_t i, const char *id, double previous,
                           double output, const char *explanation, double now)
{
    size_t failed = 0;
    pthread_mutex_lock(&c->act_lock);
    pthread_mutex_lock(&c->lock);
    if (c->regs == NULL || i >= c->n_regs) { /* a reload in between: nothing applies */
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&c->act_lock);
        return 1;
    }
    const struct regulator_def *d = &c->rules->regulators[i];
    json_t *args = json_object();
    char out_text[64], prev_text[64];
    fmt_output(d, output, out_text, sizeof(out_text));
    fmt_output(d, previous, prev_text, sizeof(prev_text));
    if (d->integer) {
        json_object_set_new(args, "output", json_integer((json_int_t)llround(output)));
        json_object_set_new(args, "previous_output", json_integer((json_int_t)llround(previous)));
    } else {
        json_object_set_new(args, "output", json_real(output));
        json_object_set_new(args, "previous_output", json_real(previous));
    }
    char name[RULES_MAX_NAME + 1];
    snprintf(name, sizeof(name), "%s", d->name);
    pthread_mutex_unlock(&c->lock);
    /* the rules cannot be swapped while act_lock is held: d stays valid */
    for (size_t k = 0; k < d->n_actions; k++) {
        const struct action_def *a = &d->actions[k];
        struct action_ctx ctx;
        memset(&ctx, 0, sizeof(ctx));
        ctx.decision_id = id;
        ctx.state = name;
        ctx.from = "";
        ctx.reasoning = explanation;
        ctx.confidence = 1;
        ctx.time = now;
        ctx.args = args;
        ctx.env = &c->env;
        struct action_result ar;
        uint64_t t0 = now_usec();
        actions_mark(c, (int)a->kind, a->params);
        actuator_run(a, &ctx, &ar, NULL);
        actions_mark(c, -1, NULL);
        double secs = (double)(now_usec() - t0) / 1e6;
        if (ar.status != ACT_OK) {
            failed++;
            log_error("regulator %s: %s -> %s: %s failed: %s", name, prev_text, out_text,
                      a->summary, ar.error);
        } else {
            log_info("regulator %s: %s -> %s: %s: ok", name, prev_text, out_text, a->summary);
        }
        pthread_mutex_lock(&c->lock);
        actions_record_result(c, id, k, a->kind, a->summary, "regulator", &ar, secs, now_realtime(),
                              NULL);
        pthread_mutex_unlock(&c->lock);
        enum act_status status = ar.status;
        action_result_clear(&ar);
        if (status != ACT_OK)
            break; /* the output is not the new one: the rest would apply a half change */
    }
    json_decref(args);
    pthread_mutex_unlock(&c->act_lock);
    return failed;
}

void regulators_evaluate(struct controller *c, const struct eval_result *res,
                         const struct signal_value *values, double now)
{
    pthread_mutex_lock(&c->lock);
    const struct rules *r = c->rules;
    for (size_t i = 0; i < c->n_regs; i++) {
        const struct regulator_def *d = &r->regulators[i];
        struct regulator_run *run = &c->regs[i];
        const struct signal_value *sv = &values[d->signal];
        run->signal_known = sv->known && isfinite(sv->value);
        run->signal = sv->value;
        run->last_time = now;
        if (c->st.paused) {
            snprintf(run->last.explanation, sizeof(run->last.explanation),
                     "paused: %s held at %.6g", d->output_name ? d->output_name : d->name,
                     run->st.output);
            run->last.why = REG_UNKNOWN;
            run->last.change = false;
            run->paused = true;
            history_add(run, now);
            continue;
        }
        run->paused = false;
        struct regulator_input in = {.now = now, .known = run->signal_known, .signal = sv->value};
        bool state_unknown = res->to == EVAL_STATE_UNKNOWN || (res->uncertain && d->n_active_in);
        in.active = !state_unknown && active_in(d, res->to);
        if (state_unknown && d->n_active_in)
            in.known = false; /* whether it is active cannot be told: hold */
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
        const char *outcome = dry ? "dry_run" : "applied";
        if (max && json_array_size(run->change_times) >= max) {
            /* the change waits; the windows keep this step's recommendation */
            double out = before.output, changed = before.last_change;
            run->st.output = out;
            run->st.last_change = changed;
            outcome = "budget_exhausted";
            size_t len = strlen(run->last.explanation);
            snprintf(run->last.explanation + len, sizeof(run->last.explanation) - len,
                     "; held: %u changes in the last hour (max_regulator_changes_per_hour)", max);
            run->last.change = false;
        }
        char id[64];
        controller_new_id(c, now, id, sizeof(id));
        json_t *rec = controller_record("regulator_change", id, now);
        json_object_set_new(rec, "regulator", json_string(d->name));
        json_object_set_new(rec, "signal", json_string(r->signals[d->signal].name));
        json_object_set_new(rec, "value", json_num(sv->value));
        json_object_set_new(rec, "setpoint", json_real(d->setpoint));
        json_object_set_new(rec, "law", json_string(regulator_law_name(d->law)));
        json_object_set_new(rec, "previous_output", json_real(step.previous));
        json_object_set_new(rec, "output", json_real(step.output));
        json_object_set_new(rec, "recommended", json_num(step.recommended));
        json_object_set_new(rec, "direction", json_string(direction));
        json_object_set_new(rec, "state", json_string(eval_state_name(r, res->to)));
        json_object_set_new(rec, "outcome", json_string(outcome));
        json_object_set_new(rec, "explanation", json_string(run->last.explanation));
        bool budget = strcmp(outcome, "budget_exhausted") == 0;
        /* a change held by the budget is recorded once, not at every step */
        bool write = !budget || !run->budget_recorded;
        int ar = write ? audit_append(c->audit, rec) : 0;
        run->budget_recorded = budget;
        if (ar < 0) {
            metric_add(c->m.audit_errors, 1);
            log_error_errno(ar, "audit: cannot record regulator %s's change in %s; not applied",
                            d->name, audit_path(c->audit));
            run->st = before;
            run->last.change = false;
            json_decref(rec);
            history_add(run, now);
            continue;
        }
        json_decref(rec);
        if (budget) {
            count_change(c, d->name, direction, "budget_exhausted");
            history_add(run, now);
            continue;
        }
        json_array_append_new(run->change_times, json_real(now));
        if (dry) {
            log_info("regulator %s (dry run): %s", d->name, run->last.explanation);
            count_change(c, d->name, direction, "dry_run");
            save_one(c, i);
            controller_save_state(c);
            history_add(run, now);
            continue;
        }
        char expl[sizeof(run->last.explanation)];
        snprintf(expl, sizeof(expl), "%s", run->last.explanation);
        double prev = step.previous, out = step.output;
        pthread_mutex_unlock(&c->lock);
        size_t failed = apply_change(c, i, id, prev, out, expl, now);
        pthread_mutex_lock(&c->lock);
        if (c->rules != r || i >= c->n_regs) /* reloaded meanwhile: the new rules decide */
            break;
        run = &c->regs[i];
        if (failed) {
            /* the world keeps the old output; the windows keep the recommendation */
            run->st.output = before.output;
            run->st.last_change = before.last_change;
            count_change(c, d->name, direction, "failed");
        } else {
            count_change(c, d->name, direction, "applied");
        }
        save_one(c, i);
        controller_save_state(c);
        history_add(run, now);
    }
    pthread_mutex_unlock(&c->lock);
}

json_t *regulators_json(struct controller *c)
{
    const struct rules *r = c->rules;
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_regs; i++) {
        const struct regulator_def *d = &r->regulators[i];
        const struct regulator_run *run = &c->regs[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(d->name));
        json_object_set_new(o, "signal", json_string(r->signals[d->signal].name));
        json_object_set_new(o, "value", run->signal_known ? json_real(run->signal) : json_null());
        json_object_set_new(o, "setpoint", json_real(d->setpoint));
        json_object_set_new(o, "law", json_string(regulator_law_name(d->law)));
        json_object_set_new(o, "output_name",
                            json_string(d->output_name ? d->output_name : d->name));
        json_object_set_new(o, "output", json_real(run->st.output));
        json_object_set_new(o, "min", json_real(d->out_min));
        json_object_set_new(o, "max", json_real(d->out_max));
        json_object_set_new(o, "start", json_real(d->out_start));
        json_object_set_new(o, "last_change", json_time(run->st.last_change));
        json_object_set_new(o, "paused", json_boolean(run->paused));
        json_object_set_new(o, "dry_run", json_boolean(c->cli.dry_run || d->dry_run));
        json_object_set_new(o, "last_step",
                            run->last_time > 0 ? json_string(regulator_why_name(run->last.why))
                                               : json_null());
        json_object_set_new(o, "explanation",
                            run->last_time > 0 ? json_string(run->last.explanation) : json_null());
        json_object_set_new(o, "changes_last_hour",
                            json_integer((json_int_t)json_array_size(run->change_times)));
        json_t *h = json_array();
        for (size_t k = 0; k < run->n_hist; k++) {
            size_t at = (run->hist_next + REGULATOR_HISTORY - run->n_hist + k) % REGULATOR_HISTORY;
            const struct regulator_point *p = &run->hist[at];
            json_array_append_new(h, json_pack("{s:o,s:f,s:o}", "time", json_time(p->time),
                                               "output", p->output, "value", json_num(p->signal)));
        }
        json_object_set_new(o, "history", h);
        json_array_append_new(a, o);
    }
    return a;
}
