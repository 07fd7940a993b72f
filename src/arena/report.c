/* Misuse reports of the ownership layer go through the malloc layer's one
 * reporter (message.c), so they look like every other strata report and
 * honour the abort_on_error option. */
#include "malloc/internal.h"
#include "arena/internal.h"

ST_COLD void _st_arena_misuse(const char *what, const void *p) {
  _st_error(what, p);
}
