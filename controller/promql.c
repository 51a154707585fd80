/* promql: PLACEHOLDER being written. */
#include <stddef.h>
