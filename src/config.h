/* Build knobs, all in one place.  Debug checks are written as
 * `if (STRATA_DEBUG) ...` so that they compile in every build and never rot;
 * release builds drop them as dead code. */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#ifndef STRATA_DEBUG
#define STRATA_DEBUG 0        /* 1: page invariant on every class allocation slow
                                 path, the complete block-start test on every
                                 local free (STRATA_CHECK_INTERIOR),
                                 span sanity on span free */
#endif
#ifndef STRATA_CHECKS
#define STRATA_CHECKS 1       /* 1 (default): the always-on checks of the small
                                 fast paths -- encoded free-list links, the
                                 popped block checked against its page, the
                                 interior-pointer and double-free tests of a
                                 local free (docs/hardening.md).  0 only to
                                 measure what they cost (bench/hardening.sh). */
#endif
#ifndef STRATA_SECURE_DEFAULT
#define STRATA_SECURE_DEFAULT 0  /* the default of option `secure`: build with
                                 -DSTRATA_SECURE_DEFAULT=1 for a library that
                                 is hardened unless STRATA_OPTIONS=secure=0 */
#endif
/* The parts of STRATA_CHECKS, to measure each (bench/hardening.sh): */
#ifndef STRATA_CHECK_INTERIOR
#define STRATA_CHECK_INTERIOR (STRATA_CHECKS ? 2 : 0)
/* the interior-pointer test of a local free's fast path: 2 (default) the
 * complete test, a carved block's start (st_block_start, 5 instructions);
 * 1 only the 16-byte grid every block start lies on (2 instructions: about
 * 1 point of churn faster, and blind to a pointer into the caller's own
 * block at a multiple of 16, to a block not carved yet and to the span's
 * tail; secure=1 then sends the owner's frees to the slow path, which runs
 * the complete test; docs/hardening.md, "What the checks cost"); 0 none,
 * to measure the others. */
#endif
#ifndef STRATA_CHECK_DFREE
#define STRATA_CHECK_DFREE STRATA_CHECKS      /* double free: the freed block's key (4) */
#endif
#ifndef STRATA_CHECK_POP
#define STRATA_CHECK_POP (STRATA_CHECKS && STRATA_SECURE_DEFAULT)  /* the block malloc
                                 pops lies in its page's segment (4 instructions):
                                 secure builds only; elsewhere the encoded link
                                 alone keeps a forged one from choosing the address */
#endif
#ifndef STRATA_SECURE_ZERO
#define STRATA_SECURE_ZERO 1  /* the default of option secure_zero: secure
                                 mode zeroes freed blocks unless 0 */
#endif
#ifndef STRATA_VALGRIND
#define STRATA_VALGRIND 0     /* 1: memcheck client requests (valgrind.c): under
                                 valgrind with strata as the allocator, memcheck
                                 sees the program's blocks (use after free,
                                 uninitialised reads, overflows, leaks).  Needs
                                 <valgrind/memcheck.h>; `make valgrind-lib`.
                                 docs/hardening.md, "valgrind" */
#endif
#ifndef STRATA_OVERRIDE
#define STRATA_OVERRIDE 1     /* 1: also export malloc, free, ... and operator new */
#endif

#define STRATA_API      __attribute__((visibility("default")))
#define ST_INTERNAL     __attribute__((visibility("hidden")))
#define ST_NOINLINE     __attribute__((noinline))
#define ST_COLD         __attribute__((cold, noinline))
#define st_likely(x)    __builtin_expect(!!(x), 1)
#define st_unlikely(x)  __builtin_expect(!!(x), 0)

#endif
