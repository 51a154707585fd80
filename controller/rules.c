/* rules: PLACEHOLDER being written. */
#include <stddef.h>
