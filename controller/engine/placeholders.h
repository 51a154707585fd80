/* placeholders: the {{name}} placeholders of action parameters: the built-in variables
 * and the scanner (see placeholders.c). */
#ifndef HOMEOSTAT_CONTROLLER_PLACEHOLDERS_H
#define HOMEOSTAT_CONTROLLER_PLACEHOLDERS_H

#include <stddef.h>

/* Built-in placeholders: id, state, from, severity, reasoning, confidence, time
 * (NULL-terminated). */
extern const char *const placeholder_builtins[];

/* {{ $labels.NAME }}: the value of label NAME of the target a decision is for (a rules
 * file with targets; NAME one of targets.by), as in Prometheus's alerting templates. */
#define PLACEHOLDER_LABELS "$labels."

/* Calls fn for every {{name}} in s (name without the surrounding spaces); stops at the
 * first nonzero return and returns it. -EINVAL for a placeholder that is unterminated,
 * empty or has characters other than letters, digits and '_' (after $labels. for a label). */
int placeholder_each(const char *s, int (*fn)(const char *name, size_t len, void *ud), void *ud);

#endif
