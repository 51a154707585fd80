/* yamltree: PLACEHOLDER being written. */
#include "yamltree.h"
