/* mapping: PLACEHOLDER being written. */
#include "mapping.h"
