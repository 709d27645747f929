/*
 * filter_re.h -- the regular expressions of event-socket `filter` commands
 * (`filter Event-Name /^CHANNEL_/`), compiled only when bounded.
 *
 * POSIX regcomp (glibc) expands every repetition by copying the repeated
 * subtree: `a{1000}{1000}` or a run of `+` (each one doubles what precedes)
 * grows its memory without bound, and a back-reference makes regexec
 * exponential in time. A client of the event socket chooses the pattern, so
 * before regcomp the pattern is checked: at most EVCD_FILTER_RE_MAX_LEN bytes,
 * no back-references, no repetition applied directly to a repetition (`a*+`,
 * `a{2}{3}`: undefined in POSIX, and glibc's epsilon closures over them take
 * seconds), and an estimate of its expanded size (every atom 1, `+` doubles
 * the atom, `{m,n}` multiplies it by max(m, n)) at most
 * EVCD_FILTER_RE_MAX_COST (a chain of that many optional atoms is what
 * regcomp's closure computation, quadratic in it, still does in
 * milliseconds). Pure code: no I/O, no logging.
 */
#ifndef EVCAST_FILTER_RE_H
#define EVCAST_FILTER_RE_H

#include <regex.h>
#include <stddef.h>

#define EVCD_FILTER_RE_MAX_LEN 512
#define EVCD_FILTER_RE_MAX_COST 256

/* The expanded-size estimate of an extended regex, or (size_t)-1 when over
 * EVCD_FILTER_RE_MAX_COST, using a back-reference or stacking repetitions. */
size_t evcd_filter_re_cost(const char *pat);

/* Compiles pat (REG_EXTENDED | REG_NOSUB | REG_ICASE) into *re after the
 * checks above. 0 ok (regfree it); -1 refused, with why in err. */
int evcd_filter_re_compile(regex_t *re, const char *pat, char *err, size_t errlen);

#endif
