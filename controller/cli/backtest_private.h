/* backtest_private: what the backtest's files share (backtest.c: times and the replay;
 * backtest_report.c: JSON and text; backtest_cli.c: the command). Private to them. */
#ifndef HOMEOSTAT_CONTROLLER_BACKTEST_PRIVATE_H
#define HOMEOSTAT_CONTROLLER_BACKTEST_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "backtest.h"
#include "step.h"

#define PROG "homeostat-controller"
#define DEFAULT_FROM "-24h"
#define DEFAULT_TO "now"
#define DEFAULT_QUERY_TIMEOUT_USEC 30000000u
#define DEFAULT_FLAP_WINDOW_USEC 300000000u
#define MAX_TIME_TEXT 64 /* bytes of a --from or --to value */

void backtest_format_duration(uint64_t ms, char *dst, size_t dstsz);
/* The index of a state in the summary's per-state arrays ([n_states]: unknown). */
size_t backtest_state_slot(const struct rules *r, size_t index);
/* Appends a timeline entry (target: its key, or NULL); past BACKTEST_MAX_EVENTS only
 * counted. 0 or -ENOMEM. */
int backtest_add_event(struct backtest_result *b, int64_t t_ms, const struct eval_result *res,
                       enum decision_outcome o, const struct decision_def *def, bool flap,
                       const char *target);
void backtest_format_time(int64_t ms, char *dst, size_t dstsz);
/* Adds step g of regulator d at t_ms to its trajectory bt. With targets, own is that
 * target's summary of the regulator (its last change decides a reversal) and target its
 * key, which a listed change names; without, both NULL. 0 or -ENOMEM. */
int backtest_note_regulator(struct backtest_regulator *bt, struct backtest_target_regulator *own,
                            const struct regulator_def *d, const struct step_regulator *g,
                            int64_t t_ms, const char *target);

/* The window (effects.h) of signal's known values in [from_ms, to_ms] after or before the
 * decision of event e: without targets of its one series, with of its target's series. */
typedef void backtest_window_fn(void *ctx, const struct backtest_event *e, size_t signal,
                                int64_t from_ms, int64_t to_ms, struct effect_window *w);
/* Judges each decision of the timeline that fires (executed or dry run) on the replayed
 * history as daemon/verdicts.c judges it (effects.h): its state's > and < conditions'
 * signals (their windows from window, ctx its), the verify_window before it against the one
 * ending verify_after later; a verdict whose window passes the end of the range is unknown.
 * Sets each event's verdict and counts them in b->verdicts. 0 or -ENOMEM. */
int backtest_judge_events(struct backtest_result *b, backtest_window_fn *window, void *ctx);
/* Counts a verdict of state's decision in *v (n_states + 1 rows, allocated at the first). 0
 * or -ENOMEM. */
int backtest_count_verdict(uint64_t (**v)[EFFECT_MAX], size_t n_states, size_t state,
                           enum effect_verdict verdict);

#endif
