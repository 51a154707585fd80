/* scrape: PLACEHOLDER being written. */
#include "collector.h"
