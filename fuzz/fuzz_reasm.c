/*
 * fuzz_reasm.c -- libFuzzer target for the v2 reassembler and the receiver
 * gap tracker (src/lib/reasm.c, retrans.c).
 *
 * The input is a program of 12-byte operations (fragment arrivals with any
 * node, epoch, seq, index, count, length; time steps; expiry; gap tracker
 * DATA/ANNOUNCE/poll). Invariants that abort: the memory and count bounds
 * always hold; a completed message has the announced length and the bytes of
 * its fragments; the gap list is ascending, disjoint, within its bounds, and
 * its missing counter equals the sum of its gaps; its NAKs encode and decode.
 */
#include <stdlib.h>
#include <string.h>
#include "v2.h"

#define MAX_BYTES (256u * 1024u)
#define MAX_MSGS 8u

static uint8_t payload[EVC_V2_MAX_MSG];

static uint32_t rd32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

static void check_gaps(const evc__v2_gaps_t *g)
{
	uint64_t sum = 0, prev_last = 0;
	if (g->ngaps > EVC_V2_MAX_GAPS || g->missing > EVC_V2_MAX_MISSING)
		abort();
	for (size_t i = 0; i < g->ngaps; i++) {
		const evc__v2_gap_t *p = &g->gaps[i];
		if (p->first > p->last || (i && p->first <= prev_last) || p->last > g->highest)
			abort();
		sum += p->last - p->first + 1;
		prev_last = p->last;
	}
	if (sum != g->missing)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	evc__v2_reasm_t *r;
	evc__v2_gaps_t g;
	evc__v2_nak_t nak;
	uint64_t now = 1000;
	if (evc__v2_reasm_new(MAX_BYTES, MAX_MSGS, 3000, &r) < 0)
		abort();
	evc__v2_gaps_init(&g, 5, 3000, 8, NULL, NULL);
	for (size_t pos = 0; pos + 12 <= size; pos += 12) {
		const uint8_t *op = data + pos;
		switch (op[0] % 6) {
		case 0:
		case 1: { /* a fragment */
			evc__v2_hdr_t h;
			memset(&h, 0, sizeof(h));
			h.type = EVC_V2_DATA;
			h.node_id[0] = op[1] & 3;
			h.epoch = 1 + (op[2] & 1);
			h.frag_count = (uint16_t)(1 + (op[3] | ((op[4] & 3) << 8)));
			h.frag_index = (uint16_t)(op[5] | ((op[4] >> 2 & 3) << 8));
			h.seq = 1 + (uint64_t)op[6] + h.frag_index;
			h.msg_len = rd32(op + 7) % (op[0] & 0x80 ? EVC_V2_MAX_MSG + 16 : 8192u);
			uint32_t off = 0, flen = op[11];
			if (!(op[11] & 1)) /* mostly the right length, sometimes not */
				evc__v2_frag_span(h.msg_len, h.frag_count, h.frag_index, &off, &flen);
			if (flen > sizeof(payload))
				abort();
			memset(payload, op[6], flen);
			uint8_t *msg = NULL;
			size_t mlen = 0;
			int rc = evc__v2_reasm_add(r, &h, payload, flen, now, &msg, &mlen);
			if (rc == 1) {
				if (!msg || mlen != h.msg_len)
					abort();
				evc__free(msg);
			} else if (rc != 0 && rc != -EVC_V2_R_FRAG && rc != EVCAST_E2BIG && rc != EVCAST_ENOMEM) {
				abort();
			}
			break;
		}
		case 2: /* time passes */
			now += rd32(op + 1) % 5000;
			evc__v2_reasm_expire(r, now);
			break;
		case 3: /* gap tracker: DATA seen */
			evc__v2_gaps_seen(&g, 1 + (op[1] & 1), 1 + (rd32(op + 2) % 200000), now);
			break;
		case 4: { /* gap tracker: ANNOUNCE */
			evc__v2_announce_t a;
			a.last_seq = rd32(op + 2) % 200000;
			a.oldest_seq = a.last_seq ? rd32(op + 6) % (a.last_seq + 1) : 0;
			evc__v2_gaps_announce(&g, 1 + (op[1] & 1), &a, now);
			break;
		}
		default: { /* gap tracker: NAK poll, the NAK must encode and decode */
			int n = evc__v2_gaps_poll(&g, now, &nak);
			if (n < 0 || n > EVC_V2_NAK_MAX_RANGES)
				abort();
			if (n > 0) {
				uint8_t buf[EVC_V2_NAK_LEN(EVC_V2_NAK_MAX_RANGES)];
				evc__v2_nak_t back;
				memset(nak.target_node, 1, sizeof(nak.target_node));
				nak.target_epoch = 1;
				int m = evc__v2_nak_encode(&nak, buf, sizeof(buf));
				if (m <= 0 || evc__v2_nak_decode(buf, (size_t)m, &back) != 0)
					abort();
			}
			now += op[1];
			break;
		}
		}
		evc__v2_reasm_stats_t st;
		evc__v2_reasm_stats(r, &st);
		if (st.bytes > MAX_BYTES || st.messages > MAX_MSGS)
			abort();
		check_gaps(&g);
	}
	evc__v2_reasm_free(r);
	return 0;
}
