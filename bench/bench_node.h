/*
 * bench_node.h -- drives one running evcast node over 127.0.0.1 for the
 * receive-path benches (bench_decode node, bench_v2 --node), the part both
 * share: a node on the given settings with one consumer counting received
 * events, a UDP socket feeding it datagrams from an idle callback (16 per
 * turn) until N are sent, and a 20 ms check that closes everything once the
 * wanted number of events was delivered (or the node received N datagrams
 * and nothing more is coming, or 300 s passed). Each bench supplies the
 * datagrams (make) and prints its own line from the result.
 */
#ifndef EVCAST_BENCH_NODE_H
#define EVCAST_BENCH_NODE_H

#include <stddef.h>
#include <sys/types.h>
#include "evcast/evcast.h"

/* Writes datagram number seq (1-based) into buf; returns its length, or -1. */
typedef ssize_t (*bench_node_make_fn)(void *ud, unsigned long seq, uint8_t *buf, size_t cap);

typedef struct bench_node_run {
	const char *name;      /* for messages and node-name */
	const char *settings;  /* extra <param .../> elements (protocol, psk, keys) */
	int port;
	unsigned long n;       /* datagrams to send */
	unsigned long want;    /* events to be delivered */
	bench_node_make_fn make;
	void *ud;
	bool dump;             /* print the first two delivered events to stderr */
	/* results */
	unsigned long sent, delivered;
	evcast_stats_t st;
	int loop_closed;       /* uv_loop_close() == 0 */
} bench_node_run_t;

/* Runs the node until done; 0 ok (delivered == want), 1 otherwise. */
int bench_node_run(bench_node_run_t *r);

#endif
