/*
 * fuzz_v2proto.c -- libFuzzer target for a whole v2 endpoint's receive path
 * (src/lib/v2proto.c): replay, gaps, NAKs, hold-back, reassembly, delivery.
 *
 * The input is a program of records: 1 op byte, then per op. Ops: a raw
 * datagram (2-byte length + bytes), a DATA / ANNOUNCE / NAK / STATUS built from fields
 * in the input and sealed with the endpoint's key (so the fuzzer gets behind
 * the AEAD; optionally with the ZSTD flag, over a zstd-compressed batch or
 * raw bytes; a STATUS optionally aimed at the endpoint so it joins the
 * flow-control set), a time step with a poll (op bit 0x40 toggles the
 * receive hold, bit 0x20 marks the senders as taking STATUS; flow control,
 * PROTOCOL.md 14), a local send. The hostile-input bounds (v2guard.c) are
 * small so that they bite: field bits choose one of four source addresses
 * and unsealed (plaintext, accepted) datagrams; op bytes 0xF0-0xF7 mark a
 * sender as heard in a HEARTBEAT at an address, 0xF8-0xFF a host heard in a
 * legacy HEARTBEAT; f[7] bit 7 aims a NAK at this endpoint; the last input
 * byte's bit 0 shrinks receive-memory. Invariants that abort: each
 * delivered text is a non-empty record of at most 1 MiB, every NAK sent is a
 * whole datagram, every drop is a known reason, the receive state stays
 * within its bound (plus one sender's table entry per sender); ASan/UBSan
 * watch the rest (hold-back queue, reassembly, gap tracker, shedding and
 * eviction under arbitrary orders).
 */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <zstd.h>
#include "v2.h"

static evc__v2_keyring_t *kr;
static uint8_t dg[EVC_V2_MAX_DGRAM], msg[EVC_V2_MAX_DGRAM], zmsg[EVC_V2_MAX_DGRAM + 1024];
static uint64_t delivered;

static void send_group(void *ud, const uint8_t *buf, size_t len) { (void)ud, (void)buf, (void)len; }
static void send_to(void *ud, const uint8_t *buf, size_t len, const struct sockaddr *to)
{
	(void)ud, (void)buf, (void)to;
	if (len < EVC_V2_HDR_LEN)
		abort();
}
static void deliver(void *ud, const uint8_t id[16], uint64_t epoch, bool auth, const uint8_t *t, size_t len)
{
	(void)ud, (void)id, (void)epoch, (void)auth, (void)t;
	if (len == 0 || len > EVC_V2_MAX_EVENT)
		abort();
	delivered++;
}

static uint64_t rd(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!kr) {
		uint8_t master[32];
		memset(master, 0x5C, sizeof(master));
		if (evc__v2_keyring_new(&kr) || evc__v2_keyring_add_master(kr, 1, master))
			abort();
	}
	evc__v2_ep_cfg_t cfg;
	evc__v2_ep_cfg_default(&cfg);
	memset(cfg.node_id, 0xEE, 16);
	cfg.epoch = 1000000;
	cfg.max_senders = 4;
	cfg.reasm_bytes = 1 << 20;
	cfg.hold_bytes = 64 << 10;
	cfg.accept_plain = true;
	/* the last input byte's bit 0: a bound that four senders' entries almost fill */
	cfg.guard.rx_mem = size && (data[size - 1] & 1) ? 48 << 10 : 128 << 10;
	cfg.guard.max_unknown = 2;
	cfg.guard.nak_rate = 20;
	cfg.guard.rtx_rate = 64 << 10;
	cfg.guard.rtx_peer_rate = 16 << 10;
	evc__v2_ep_cbs_t cbs = {send_group, send_to, deliver, NULL, NULL};
	evc__v2_ep_t *ep;
	if (evc__v2_ep_new(&cfg, kr, &cbs, &ep) < 0)
		abort();
	struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(4242)};
	struct sockaddr_in at[4]; /* hostile-input bounds: four source addresses */
	for (int i = 0; i < 4; i++)
		at[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(4242),
					     .sin_addr.s_addr = htonl(0x0a000001u + (uint32_t)i)};
	uint64_t now = 2000000;
	size_t pos = 0;
	bool held = false;
	while (pos < size) {
		uint8_t op = data[pos++];
		int rc = 0;
		if (op >= 0xF0) { /* a HEARTBEAT of sender op&3 at address (op>>2)&1, or a legacy one */
			uint8_t id[16];
			memset(id, 0x10, 16);
			id[0] = op & 3;
			if (op < 0xF8)
				evc__v2_ep_heard_heartbeat(ep, id, (struct sockaddr *)&at[(op >> 2) & 1]);
			else
				evc__v2_ep_heard_legacy(ep, (struct sockaddr *)&at[op & 3], 64u << (op & 4), now);
			continue;
		}
		switch (op % 5) {
		case 0: { /* raw datagram */
			if (size - pos < 2)
				goto done;
			size_t n = (size_t)rd(data + pos, 2);
			pos += 2;
			if (n > size - pos)
				n = size - pos;
			rc = evc__v2_ep_recv(ep, data + pos, n, (struct sockaddr *)&from, now);
			pos += n;
			break;
		}
		case 1:
		case 2: { /* a sealed datagram built from 12 field bytes + payload */
			if (size - pos < 14)
				goto done;
			const uint8_t *f = data + pos;
			pos += 14;
			size_t n = (size_t)rd(f + 12, 2) % 2048;
			if (n > size - pos)
				n = size - pos;
			evc__v2_hdr_t h;
			memset(&h, 0, sizeof(h));
			h.type = (uint8_t)(1 + f[0] % 4);
			memset(h.node_id, 0x10, 16);
			h.node_id[0] = f[1] & 3;
			h.epoch = 1000000 + (f[2] & 1);
			h.seq = 1 + rd(f + 3, 2);
			if (h.type != EVC_V2_DATA)
				h.seq |= EVC_V2_CTL_BIT;
			h.ts_us = now;
			h.frag_count = (uint16_t)(1 + f[5] % 8);
			h.frag_index = (uint16_t)(f[6] % h.frag_count);
			if (h.frag_index >= h.seq)
				h.frag_index = 0;
			uint32_t off = 0, flen = (uint32_t)n;
			if (op % 5 == 1 && h.type == EVC_V2_DATA && n) {
				/* a well-formed batch record carrying a unique tag */
				evc__v2_batch_t b;
				evc__v2_batch_init(&b, msg, sizeof(msg));
				evc__v2_batch_add(&b, (const char *)data + pos, n);
				h.msg_len = (uint32_t)b.len;
				if (evc__v2_frag_span(h.msg_len, h.frag_count, h.frag_index, &off, &flen) < 0) {
					h.frag_count = 1;
					h.frag_index = 0;
					off = 0;
					flen = h.msg_len;
				}
			} else {
				memcpy(msg, data + pos, n);
				h.msg_len = (uint32_t)n;
				h.frag_count = 1;
				h.frag_index = 0;
			}
			pos += n;
			if (h.type == EVC_V2_STATUS && (f[7] & 2) && h.msg_len >= 24) {
				memset(msg, 0xEE, 16); /* aimed at this endpoint: it joins the set */
				memset(msg + 16, 0, 8);
				msg[16 + 5] = 0x0F, msg[16 + 6] = 0x42, msg[16 + 7] = 0x40; /* epoch 1000000 */
			}
			if (h.msg_len == 0)
				break;
			if (h.type == EVC_V2_NAK && (f[7] & 0x80) && h.msg_len >= 24) {
				memset(msg, 0xEE, 16); /* aimed at this endpoint (hostile-input bounds: budgets) */
				memset(msg + 16, 0, 8);
				msg[16 + 5] = 0x0F, msg[16 + 6] = 0x42, msg[16 + 7] = 0x40; /* epoch 1000000 */
			}
			/* f[7] bit 0: the ZSTD flag (docs/PROTOCOL.md 6.1); on a well-formed
			 * unfragmented batch the payload is then that batch compressed */
			uint8_t flags = (f[7] & 1) ? EVC_V2_F_ZSTD : 0;
			if (flags && op % 5 == 1 && h.frag_count == 1 && h.type == EVC_V2_DATA) {
				size_t z = ZSTD_compress(zmsg, sizeof(zmsg), msg, h.msg_len, 1);
				if (!ZSTD_isError(z) && z <= sizeof(msg)) {
					memcpy(msg, zmsg, z);
					h.msg_len = (uint32_t)z;
					flen = (uint32_t)z;
				}
			}
			/* f[7] bit 4: unsealed; bits 5-6: the source address */
			int len = evc__v2_seal_flags((f[7] & 0x10) ? NULL : kr, &h, flags, msg + off, flen, dg, sizeof(dg));
			if (len < 0)
				abort();
			rc = evc__v2_ep_recv(ep, dg, (size_t)len, (struct sockaddr *)&at[(f[7] >> 5) & 3], now);
			break;
		}
		case 3: /* time passes */
			if (size - pos < 2)
				goto done;
			now += rd(data + pos, 2) * 100;
			pos += 2;
			if (op & 0x40) {
				held = !held;
				evc__v2_ep_rx_hold(ep, held, now);
			}
			if (op & 0x20) {
				uint8_t id[16];
				memset(id, 0x10, sizeof(id));
				for (int i = 0; i < 4; i++) {
					id[0] = (uint8_t)i;
					evc__v2_ep_peer_fc(ep, id);
				}
			}
			evc__v2_ep_poll(ep, now);
			(void)evc__v2_ep_writable(ep);
			break;
		default: { /* a local event */
			size_t n = size - pos < 64 ? size - pos : 64;
			if (n)
				evc__v2_ep_send(ep, (const char *)data + pos, n, now);
			pos += n;
			break;
		}
		}
		if (rc < 0 && !(-rc >= EVC_V2_R_FIRST && -rc < EVC_V2_R_END) && rc != EVCAST_ENOMEM)
			abort();
		if (evc__v2_ep_guard_stats(ep)->mem > cfg.guard.rx_mem + 4 * (16 << 10))
			abort();
	}
done:
	evc__v2_ep_poll(ep, now + 10000000);
	evc__v2_ep_free(ep);
	return 0;
}
