/*
 * fuzz_v2keys.c -- libFuzzer target for the v2-keys-file text (v2conf.c's
 * evc__v2_keys_parse: lines, comments, white space, each key through the
 * keyring's parser).
 *
 * On success: 1 to EVC_V2_MAX_KEYS keys, each non-empty, NUL-terminated and
 * free of line breaks and surrounding blanks, and the keyring builds from
 * them. On failure: a message naming the file. Never crashes or leaks.
 * Seed corpus: fuzz/corpus/v2keys/.
 */
#include "v2conf.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static evc__v2_settings_t s;
	char why[1024];
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&s, 0, sizeof(s));
	why[0] = '\0';
	int rc = evc__v2_keys_parse(&s, text, "fuzz.keys", why, sizeof(why));
	free(text);
	if (rc != 0) {
		if (strncmp(why, "fuzz.keys", 9) != 0)
			abort(); /* a refusal names the file */
		return 0;
	}
	if (s.nkeys < 1 || s.nkeys > EVC_V2_MAX_KEYS)
		abort();
	for (size_t i = 0; i < s.nkeys; i++) {
		size_t n = strnlen(s.keys[i], sizeof(s.keys[i]));
		if (n == 0 || n >= sizeof(s.keys[i]) || strpbrk(s.keys[i], "\r\n") || s.keys[i][0] == ' ' ||
		    s.keys[i][0] == '\t' || s.keys[i][0] == '#' || s.keys[i][n - 1] == ' ')
			abort();
	}
	evc__v2_keyring_t *kr = NULL;
	if (evc__v2_settings_keyring(&s, &kr, why, sizeof(why)) != 0 || !kr)
		abort(); /* every key was checked: the keyring must build (duplicate ids aside) */
	evc__v2_keyring_free(kr);
	return 0;
}
