/* amreceiver: the store behind POST /api/v1/alertmanager, Alertmanager's webhook
 * (payload version 4). Firing alerts are kept by fingerprint until a notification says
 * they resolved, their endsAt passes, or nothing re-notified them for a day; they feed the
 * alert:NAME signals (1 while an alert of that alertname fires, else 0) and are listed by
 * GET /api/v1/alerts. Not thread-safe: the daemon holds its lock. */
#ifndef HOMEOSTAT_CONTROLLER_AMRECEIVER_H
#define HOMEOSTAT_CONTROLLER_AMRECEIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define AMRECEIVER_MAX_ALERTS 1000
#define AMRECEIVER_MAX_AGE_SECONDS                                                                 \
    86400.0 /* firing alerts not re-notified for this long expire                                  \
             */

struct amreceiver;

/* storage: the JSON object that holds the alerts (borrowed, kept alive by the caller): the
 * daemon passes the state file's, so a restart keeps what Alertmanager reported. */
int amreceiver_new(json_t *storage, struct amreceiver **ret); /* 0 or -ENOMEM */
void amreceiver_free(struct amreceiver *s);                   /* accepts NULL */

/* Applies a webhook body received at now. 0 with the counts of firing and resolved alerts
 * in it, or -EINVAL with why in msg ("alerts[2].labels: expected an object") and nothing
 * applied. When the store is full the alerts received longest ago are dropped and counted
 * in *ret_dropped. */
int amreceiver_apply(struct amreceiver *s, const char *body, size_t len, double now,
                     unsigned *ret_firing, unsigned *ret_resolved, unsigned *ret_dropped, char *msg,
                     size_t msg_size);

/* Whether an alert with this alertname fires at now. */
bool amreceiver_firing(struct amreceiver *s, const char *alertname, double now);

/* The alerts firing at now, newest first: labels, annotations, startsAt, received_at,
 * fingerprint, receiver (new reference). */
json_t *amreceiver_json(struct amreceiver *s, double now);
size_t amreceiver_count(struct amreceiver *s, double now);

#endif
