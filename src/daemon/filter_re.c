/*
 * filter_re.c -- bounded compilation of event-socket filter regexes (see
 * filter_re.h). The estimate walks the pattern once with a stack of open
 * groups: a group's size is the sum of its atoms, and a repetition applied
 * to the last atom (a character, a bracket expression, an escape or a whole
 * group) multiplies that atom's share of the total. Saturating arithmetic:
 * anything over the bound stays over it.
 */
#include "filter_re.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32
#define OVER ((size_t)-1)

static size_t sat_add(size_t a, size_t b)
{
	return a > EVCD_FILTER_RE_MAX_COST || b > EVCD_FILTER_RE_MAX_COST ? OVER : a + b;
}

static size_t sat_mul(size_t a, size_t b)
{
	if (a && b > EVCD_FILTER_RE_MAX_COST / a)
		return OVER;
	return a * b;
}

/* An interval at p ("{m}", "{m,}", "{m,n}"): its larger bound (m + 1 for
 * "{m,}", one more copy than required), *len its length; 0 when p is not an
 * interval (then '{' is an ordinary character, as in glibc). */
static size_t interval(const char *p, size_t *len)
{
	const char *q = p + 1;
	size_t m = 0, n;
	if (!isdigit((unsigned char)*q))
		return 0;
	while (isdigit((unsigned char)*q))
		m = sat_add(sat_mul(m, 10), (size_t)(*q++ - '0'));
	n = m;
	if (*q == ',') {
		q++;
		if (isdigit((unsigned char)*q)) {
			n = 0;
			while (isdigit((unsigned char)*q))
				n = sat_add(sat_mul(n, 10), (size_t)(*q++ - '0'));
		} else {
			n = sat_add(m, 1);
		}
	}
	if (*q != '}')
		return 0;
	*len = (size_t)(q - p) + 1;
	return n > m ? n : m;
}

/* Length of the bracket expression at p ('['), or 0 when it does not close. */
static size_t bracket(const char *p)
{
	const char *q = p + 1;
	if (*q == '^')
		q++;
	if (*q == ']')
		q++; /* a leading ']' is a member */
	while (*q && *q != ']') {
		if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
			const char *e = strchr(q + 2, q[1]);
			if (!e || e[1] != ']')
				return 0;
			q = e + 2;
		} else {
			q++;
		}
	}
	return *q == ']' ? (size_t)(q - p) + 1 : 0;
}

size_t evcd_filter_re_cost(const char *pat)
{
	size_t total[MAX_DEPTH + 1], last = 0, depth = 0, k, len;
	int rep = 0; /* the previous token was a repetition */
	total[0] = 0;
	for (const char *p = pat; *p;) {
		int was_rep = rep;
		rep = 0;
		if (was_rep && (*p == '*' || *p == '?' || *p == '+' || (*p == '{' && interval(p, &len))))
			return OVER; /* a repetition of a repetition */
		switch (*p) {
		case '\\':
			if (isdigit((unsigned char)p[1]))
				return OVER; /* back-reference: exponential matching */
			last = 1;
			total[depth] = sat_add(total[depth], 1);
			p += p[1] ? 2 : 1;
			continue;
		case '[':
			if (!(len = bracket(p)))
				return OVER; /* unterminated: regcomp refuses it anyway */
			last = 1;
			total[depth] = sat_add(total[depth], 1);
			p += len;
			continue;
		case '(':
			if (depth == MAX_DEPTH)
				return OVER;
			total[++depth] = 0;
			last = 0;
			break;
		case ')':
			if (depth == 0) { /* a lone ')' is an ordinary character in ERE */
				last = 1;
				total[0] = sat_add(total[0], 1);
				break;
			}
			last = sat_add(total[depth], 1);
			depth--;
			total[depth] = sat_add(total[depth], last);
			break;
		case '|':
			last = 0;
			total[depth] = sat_add(total[depth], 1);
			break;
		case '*':
		case '?':
			rep = 1;
			break; /* one copy: no growth */
		case '+':
			/* glibc: x+ is x x*, the atom copied once more */
			total[depth] = sat_add(total[depth], last);
			last = sat_mul(last, 2);
			rep = 1;
			break;
		case '{':
			if ((k = interval(p, &len)) > 0) {
				total[depth] = sat_add(total[depth], sat_mul(last, k - 1));
				last = sat_mul(last, k);
				rep = 1;
				if (total[depth] == OVER || last == OVER)
					return OVER;
				p += len;
				continue;
			}
			/* fall through - a literal '{' */
		default:
			last = 1;
			total[depth] = sat_add(total[depth], 1);
			break;
		}
		if (total[depth] == OVER || last == OVER)
			return OVER;
		p++;
	}
	while (depth > 0) { /* unbalanced '(': regcomp refuses it; count what is open */
		size_t t = total[depth--];
		total[depth] = sat_add(total[depth], t);
	}
	return total[0] > EVCD_FILTER_RE_MAX_COST ? OVER : total[0];
}

int evcd_filter_re_compile(regex_t *re, const char *pat, char *err, size_t errlen)
{
	int rc;
	if (strlen(pat) > EVCD_FILTER_RE_MAX_LEN) {
		snprintf(err, errlen, "regular expression longer than %d bytes", EVCD_FILTER_RE_MAX_LEN);
		return -1;
	}
	if (evcd_filter_re_cost(pat) == OVER) {
		snprintf(err, errlen, "regular expression too complex (a back-reference, a repetition of a "
				      "repetition, or repetitions expanding beyond %d)", EVCD_FILTER_RE_MAX_COST);
		return -1;
	}
	if ((rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB | REG_ICASE)) != 0) {
		char why[128];
		regerror(rc, re, why, sizeof(why));
		snprintf(err, errlen, "invalid regular expression: %s", why);
		return -1;
	}
	return 0;
}
