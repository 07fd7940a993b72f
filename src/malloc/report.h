/* The exit report (report.c): statistics, leaks and heap-map data written
 * to the file named by the `report` option when the process calls exit(). */
#ifndef STRATA_MALLOC_REPORT_H
#define STRATA_MALLOC_REPORT_H

#include "config.h"

/* atexit handler, registered by process init when `report` is set. */
ST_INTERNAL void _st_report_at_exit(void);

#endif
