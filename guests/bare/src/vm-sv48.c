/* Virtual-memory tests with four-level Sv48 page tables. */
#define LEVELS 4
#include "vm-common.h"
