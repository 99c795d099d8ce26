/* Virtual-memory tests with three-level Sv39 page tables. */
#define LEVELS 3
#include "vm-common.h"
