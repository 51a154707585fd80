/* ruletest: PLACEHOLDER being written. */
#include <stddef.h>
