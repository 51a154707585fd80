/* breaker: a circuit breaker. CLOSED counts consecutive failures and opens after
 * `failures` of them; OPEN rejects every call until `recovery_usec` have passed, then
 * HALF_OPEN lets exactly one trial call through: its success closes the breaker, its
 * failure opens it again. An operator can force it open or closed until "auto".
 * Thread-safe; time is passed in (now_usec, CLOCK_MONOTONIC). Each state change calls the
 * transition callback (under the breaker's lock: it must not call back into it). */
#ifndef HOMEOSTAT_DEMO_BREAKER_H
#define HOMEOSTAT_DEMO_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 };
enum breaker_force { BREAKER_AUTO = 0, BREAKER_FORCED_OPEN, BREAKER_FORCED_CLOSED };

typedef void (*breaker_transition_fn)(void *userdata, enum breaker_state from,
                                      enum breaker_state to);

struct breaker {
    pthread_mutex_t lock;
    enum breaker_state state;
    enum breaker_force force;
    unsigned failures_to_open, consecutive_failures;
    uint64_t recovery_usec, opened_usec;
    bool trial_in_flight;
    uint64_t transitions;
    breaker_transition_fn on_transition;
    void *userdata;
};

void breaker_init(struct breaker *b, unsigned failures_to_open, uint64_t recovery_usec,
                  breaker_transition_fn on_transition, void *userdata);
void breaker_destroy(struct breaker *b);
/* May a call go through now? true means the caller must report its outcome with
 * breaker_record (in HALF_OPEN, the one trial call). */
bool breaker_allow(struct breaker *b, uint64_t now_usec);
/* The outcome of a call that breaker_allow let through. */
void breaker_record(struct breaker *b, bool success, uint64_t now_usec);
/* Forces the state (open or closed) or hands it back (auto: closed, counts reset). */
void breaker_force(struct breaker *b, enum breaker_force force, uint64_t now_usec);
/* The state now (an OPEN breaker past its recovery time reads HALF_OPEN). */
enum breaker_state breaker_state(struct breaker *b, uint64_t now_usec);
enum breaker_force breaker_forced(struct breaker *b);
uint64_t breaker_transitions(struct breaker *b);
const char *breaker_state_name(enum breaker_state s); /* "closed", "open", "half_open" */
const char *breaker_force_name(enum breaker_force f); /* "auto", "open", "closed" */

#endif
