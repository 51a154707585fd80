/* statefile: atomic save and restore of the controller's state (see statefile.h). */
#include "statefile.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "parse.h"

int statefile_render(const struct rules *r, const struct controller_state *s,
                     int (*targets)(void *ctx, struct buf *out), void *ctx, struct buf *out)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "saved_at", json_real(now_realtime()));
    json_object_set_new(root, "state", json_string(eval_state_name(r, s->eval.current)));
    json_object_set_new(root, "since", json_real(s->eval.since));
    json_object_set_new(root, "paused", json_boolean(s->paused));
    json_object_set_new(root, "decision_seq", json_integer((json_int_t)s->decision_seq));
    json_t *states = json_object();
    for (size_t i = 0; i < r->n_states && i < s->eval.n_states; i++) {
        json_t *t = json_object();
        json_object_set_new(t, "held_since", json_real(s->eval.held_since[i]));
        json_object_set_new(t, "last_held", json_real(s->eval.last_held[i]));
        json_object_set_new(states, r->states[i].name, t);
    }
    json_object_set_new(root, "states", states);
    json_t *cool = json_object();
    for (size_t i = 0; i < r->n_decisions; i++)
        json_object_set_new(cool, r->states[r->decisions[i].state].name,
                            json_real(s->last_exec[i]));
    json_object_set_new(root, "last_executed", cool);
    json_object_set_new(root, "effects", s->effects ? json_incref(s->effects) : json_array());
    json_object_set_new(root, "overrides",
                        s->overrides ? json_incref(s->overrides) : json_object());
    json_object_set_new(root, "action_times",
                        s->action_times ? json_incref(s->action_times) : json_array());
    json_object_set_new(root, "alerts_received",
                        s->alerts_received ? json_incref(s->alerts_received) : json_object());
    json_object_set_new(root, "regulators",
                        s->regulators ? json_incref(s->regulators) : json_object());
    if (s->verdicts && json_array_size(s->verdicts))
        json_object_set_new(root, "verdicts", json_incref(s->verdicts));
    if (s->suspensions && json_object_size(s->suspensions))
        json_object_set_new(root, "suspensions", json_incref(s->suspensions));
    if (s->escalations && json_object_size(s->escalations))
        json_object_set_new(root, "escalations", json_incref(s->escalations));
    if (s->track && json_object_size(s->track))
        json_object_set_new(root, "track_record", json_incref(s->track));
    if (s->targets && !targets)
        json_object_set_new(root, "targets", json_incref(s->targets));
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    int ret = 0;
    if (targets && len >= 2 && text[len - 1] == '}') {
        /* the targets' text (written without a tree: daemon/targets_table.c) goes in last */
        len--;
        while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
            len--;
        ret = buf_append(out, text, len);
        if (ret == 0)
            ret = buf_puts(out, ",\n \"targets\": ");
        if (ret == 0)
            ret = targets(ctx, out);
        if (ret == 0)
            ret = buf_puts(out, "\n}");
    } else {
        ret = buf_append(out, text, len);
    }
    free(text);
    return ret;
}

int statefile_save(const char *path, const struct rules *r, const struct controller_state *s)
{
    struct buf text = BUF_INIT_MAX(STATE_MAX_FILE_BYTES);
    int ret = statefile_render(r, s, NULL, NULL, &text);
    if (ret == 0)
        ret = file_write_atomic(path, text.data, text.len, 0600);
    buf_free(&text);
    return ret;
}

static double num(json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : 0;
}

int statefile_load(const char *path, const struct rules *r, struct controller_state *s,
                   struct buf *errors)
{
    char *text = NULL;
    size_t len = 0;
    int ret = file_read_alloc(path, STATE_MAX_FILE_BYTES, &text, &len);
    if (ret < 0)
        return ret;
    ret = statefile_load_text(path, text, len, r, s, errors);
    free(text);
    return ret;
}

int statefile_load_text(const char *path, const char *text, size_t len, const struct rules *r,
                        struct controller_state *s, struct buf *errors)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    if (!root || !json_is_object(root) ||
        json_integer_value(json_object_get(root, "version")) != 1) {
        buf_printf(errors, "%s:%d:%d: %s", path, root ? 1 : err.line, root ? 1 : err.column,
                   root ? "not a homeostat state file (version 1)" : err.text);
        json_decref(root);
        return -EINVAL;
    }
    const char *name = json_string_value(json_object_get(root, "state"));
    bool matched = false;
    if (name) {
        if (strcmp(name, RULES_STATE_UNKNOWN) == 0) {
            s->eval.current = EVAL_STATE_UNKNOWN;
            matched = true;
        } else {
            int idx = rules_state_index(r, name);
            if (idx >= 0) {
                s->eval.current = (size_t)idx;
                matched = true;
            }
        }
    }
    /* A state the rules no longer have: keep the default and its own since. */
    if (matched)
        s->eval.since = num(json_object_get(root, "since"));
    s->paused = json_is_true(json_object_get(root, "paused"));
    s->decision_seq = (unsigned long long)json_integer_value(json_object_get(root, "decision_seq"));
    json_t *states = json_object_get(root, "states");
    for (size_t i = 0; i < r->n_states && i < s->eval.n_states; i++) {
        json_t *t = json_object_get(states, r->states[i].name);
        s->eval.held_since[i] = num(json_object_get(t, "held_since"));
        s->eval.last_held[i] = num(json_object_get(t, "last_held"));
    }
    json_t *cool = json_object_get(root, "last_executed");
    for (size_t i = 0; i < r->n_decisions; i++)
        s->last_exec[i] = num(json_object_get(cool, r->states[r->decisions[i].state].name));
    json_t *x;
    if (json_is_array(x = json_object_get(root, "effects"))) {
        json_decref(s->effects);
        s->effects = json_incref(x);
    }
    if (json_is_object(x = json_object_get(root, "overrides"))) {
        json_decref(s->overrides);
        s->overrides = json_incref(x);
    }
    if (json_is_array(x = json_object_get(root, "action_times"))) {
        json_decref(s->action_times);
        s->action_times = json_incref(x);
    }
    if (json_is_object(x = json_object_get(root, "alerts_received"))) {
        json_decref(s->alerts_received);
        s->alerts_received = json_incref(x);
    }
    if (json_is_object(x = json_object_get(root, "regulators"))) {
        json_decref(s->regulators);
        s->regulators = json_incref(x);
    }
    if (json_is_object(x = json_object_get(root, "track_record"))) {
        json_decref(s->track);
        s->track = json_incref(x);
    }
    if (json_is_object(x = json_object_get(root, "suspensions"))) {
        json_decref(s->suspensions);
        s->suspensions = json_incref(x);
    }
    if (json_is_object(x = json_object_get(root, "escalations"))) {
        json_decref(s->escalations);
        s->escalations = json_incref(x);
    }
    if (json_is_array(x = json_object_get(root, "verdicts"))) {
        json_decref(s->verdicts);
        s->verdicts = json_incref(x);
    }
    if (json_is_object(x = json_object_get(root, "targets"))) {
        json_decref(s->targets);
        s->targets = json_incref(x);
    }
    json_decref(root);
    return 0;
}

int statefile_init_json(struct controller_state *s)
{
    s->effects = json_array();
    s->overrides = json_object();
    s->action_times = json_array();
    s->alerts_received = json_object();
    s->regulators = json_object();
    if (!s->effects || !s->overrides || !s->action_times || !s->alerts_received || !s->regulators) {
        statefile_free_json(s);
        return -ENOMEM;
    }
    return 0;
}

void statefile_free_json(struct controller_state *s)
{
    json_decref(s->effects);
    json_decref(s->overrides);
    json_decref(s->action_times);
    json_decref(s->alerts_received);
    json_decref(s->targets);
    json_decref(s->regulators);
    json_decref(s->verdicts);
    json_decref(s->suspensions);
    json_decref(s->track);
    json_decref(s->escalations);
    s->escalations = NULL;
    s->effects = s->overrides = s->action_times = s->alerts_received = s->targets = NULL;
    s->regulators = s->verdicts = s->suspensions = s->track = NULL;
}
