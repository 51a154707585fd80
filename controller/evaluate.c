/* evaluate: PLACEHOLDER being written. */
#include <stddef.h>
