/* breaker: the demo application's circuit breaker (see breaker.h). */
#include "breaker.h"

static void set_state(struct breaker *b, enum breaker_state to, uint64_t now_usec)
{
    enum breaker_state from = b->state;
    if (from == to)
        return;
    b->state = to;
    b->transitions++;
    b->trial_in_flight = false;
    if (to == BREAKER_OPEN)
        b->opened_usec = now_usec;
    if (to == BREAKER_CLOSED)
        b->consecutive_failures = 0;
    if (b->on_transition)
        b->on_transition(b->userdata, from, to);
}

/* OPEN past its recovery time becomes HALF_OPEN. */
static void tick(struct breaker *b, uint64_t now_usec)
{
    if (b->force == BREAKER_AUTO && b->state == BREAKER_OPEN &&
        now_usec - b->opened_usec >= b->recovery_usec)
        set_state(b, BREAKER_HALF_OPEN, now_usec);
}

void breaker_init(struct breaker *b, unsigned failures_to_open, uint64_t recovery_usec,
                  breaker_transition_fn on_transition, void *userdata)
{
    *b = (struct breaker){.failures_to_open = failures_to_open ? failures_to_open : 1,
                          .recovery_usec = recovery_usec,
                          .on_transition = on_transition,
                          .userdata = userdata};
    pthread_mutex_init(&b->lock, NULL);
}

void breaker_destroy(struct breaker *b)
{
    pthread_mutex_destroy(&b->lock);
}

bool breaker_allow(struct breaker *b, uint64_t now_usec)
{
    bool ok;
    pthread_mutex_lock(&b->lock);
    tick(b, now_usec);
    if (b->force == BREAKER_FORCED_OPEN)
        ok = false;
    else if (b->force == BREAKER_FORCED_CLOSED || b->state == BREAKER_CLOSED)
        ok = true;
    else if (b->state == BREAKER_HALF_OPEN && !b->trial_in_flight)
        ok = b->trial_in_flight = true;
    else
        ok = false;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void breaker_record(struct breaker *b, bool success, uint64_t now_usec)
{
    pthread_mutex_lock(&b->lock);
    if (b->force != BREAKER_AUTO) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    switch (b->state) {
    case BREAKER_CLOSED:
        if (success)
            b->consecutive_failures = 0;
        else if (++b->consecutive_failures >= b->failures_to_open)
            set_state(b, BREAKER_OPEN, now_usec);
        break;
    case BREAKER_HALF_OPEN:
        if (b->trial_in_flight)
            set_state(b, success ? BREAKER_CLOSED : BREAKER_OPEN, now_usec);
        break;
    case BREAKER_OPEN: break; /* a call let through before the breaker opened: already counted */
    }
    pthread_mutex_unlock(&b->lock);
}

void breaker_force(struct breaker *b, enum breaker_force force, uint64_t now_usec)
{
    pthread_mutex_lock(&b->lock);
    b->force = force;
    if (force == BREAKER_FORCED_OPEN)
        set_state(b, BREAKER_OPEN, now_usec);
    else
        set_state(b, BREAKER_CLOSED, now_usec);
    b->consecutive_failures = 0;
    b->trial_in_flight = false;
    pthread_mutex_unlock(&b->lock);
}

enum breaker_state breaker_state(struct breaker *b, uint64_t now_usec)
{
    pthread_mutex_lock(&b->lock);
    tick(b, now_usec);
    enum breaker_state s = b->state;
    pthread_mutex_unlock(&b->lock);
    return s;
}

enum breaker_force breaker_forced(struct breaker *b)
{
    pthread_mutex_lock(&b->lock);
    enum breaker_force f = b->force;
    pthread_mutex_unlock(&b->lock);
    return f;
}

uint64_t breaker_transitions(struct breaker *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t n = b->transitions;
    pthread_mutex_unlock(&b->lock);
    return n;
}

const char *breaker_state_name(enum breaker_state s)
{
    return s == BREAKER_OPEN ? "open" : s == BREAKER_HALF_OPEN ? "half_open" : "closed";
}

const char *breaker_force_name(enum breaker_force f)
{
    return f == BREAKER_FORCED_OPEN ? "open" : f == BREAKER_FORCED_CLOSED ? "closed" : "auto";
}
