/*
 * control_int.h -- what control.c (listeners, connections, output queues,
 * event delivery), control_tcp.c (event_socket.conf, the TCP listener, the
 * auth-timeout sweep) and control_cmd.c (the event-socket commands) share.
 * Nothing else includes it (tests/unit/test_control.c and
 * fuzz/fuzz_esl_server.c include the modules themselves).
 *
 * control_auth.c guards a TCP listener before auth: limits on unauthenticated
 * connections (overall and per address) and a growing delay after failed
 * auths.
 *
 * A conn_t is owned by control.c: created on accept, freed only from its
 * uv_close callback. Command handlers write through evcd_conn_reply /
 * evcd_conn_send / evcd_conn_enqueue (never to the stream directly) and close
 * through evcd_conn_close_after_flush, so no handler ever frees a connection.
 */
#ifndef EVCAST_CONTROL_INT_H
#define EVCAST_CONTROL_INT_H

#include "acl.h"
#include "daemon.h"
#include "esl_conf.h"
#include "internal.h"
#include <regex.h>

#define ESL_MAX_HEAD (64u * 1024u)        /* header block limit */
#define ESL_MAX_BODY (1024u * 1024u)      /* body limit */
#define QUEUE_MAX_BYTES (8u * 1024u * 1024u) /* per connection, pending output */
#define QUEUE_MAX_EVENTS 20000u           /* per connection, pending messages */
#define MAX_CONNECTIONS 256u              /* per listener */
#define MAX_FILTERS 256u                  /* per connection */
#define WRITE_BATCH 64                    /* messages handed to one uv_write */
#define WRITE_BATCH_BYTES (1024u * 1024u)
/* FreeSWITCH's goodbye, word for word; 67 bytes of body */
#define DISCONNECT_NOTICE                                                                          \
	"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"                              \
	"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
_Static_assert(sizeof(DISCONNECT_NOTICE) - 1 == 57 + 67, "disconnect notice length");
/* FreeSWITCH's answer to a client its ACL refuses (then the disconnect notice) */
#define RUDE_REJECTION                                                                             \
	"Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"
_Static_assert(sizeof(RUDE_REJECTION) - 1 == 54 + 24, "rude rejection length");
/* evcast's answer over the connection limit, in the same framing */
#define BUSY_REJECTION                                                                             \
	"Content-Type: text/rude-rejection\nContent-Length: 39\n\nToo many connections, try again later.\n"
_Static_assert(sizeof(BUSY_REJECTION) - 1 == 54 + 39, "busy rejection length");

typedef struct evcd_listener_opts {
	bool require_password; /* false on the Unix socket: file permissions authenticate */
	const char *password;
	size_t queue_max_bytes, queue_max_events, max_connections;
	unsigned auth_timeout_ms; /* 0: none */
	/* esl: pre-auth guard (control_auth.c; used when max_unauth > 0) */
	size_t max_unauth, max_unauth_per_addr;
	unsigned fail_delay_ms, fail_delay_max_ms;
} evcd_listener_opts_t;

typedef union stream_u {
	uv_handle_t h;
	uv_stream_t s;
	uv_pipe_t pipe;
	uv_tcp_t tcp;
} stream_u;

typedef struct listener {
	stream_u u;
	evcd_control_t *ctl;
	struct listener *next;
	evcd_listener_opts_t opts;
	char *password, *path, *label;
	evcd_acl_t acl; /* checked before auth/request; empty = everyone */
	size_t nconns;
	bool bound; /* the socket file is ours (removed at stop) */
	struct evcd_preauth *preauth; /* control_auth.c; NULL: no pre-auth guard (the Unix socket) */
} listener_t;

/* One serialization of an event shared by every connection that gets it in
 * that format (freed with the last reference). */
typedef struct shared_text {
	unsigned refs;
	size_t len;
	char *text; /* from the library (evcast_free) */
} shared_text_t;

typedef struct out_msg {
	struct out_msg *next;
	bool event; /* droppable */
	size_t hlen, plen;
	char *payload; /* owned, or shared->text */
	shared_text_t *shared; /* a reference, or NULL */
	char hdr[64];
} out_msg_t;

typedef struct filter {
	char *name, *value;
	bool is_regex;
	regex_t re;
} filter_t;

enum { FMT_PLAIN, FMT_JSON, FMT_XML };
extern const char *const evcd_fmt_names[]; /* indexed by FMT_* */

typedef struct conn {
	stream_u u;
	evcd_control_t *ctl;
	listener_t *lis;
	struct conn *prev, *next;
	unsigned id;
	char peer[64];      /* "ip:port" on TCP, "unix" on the control socket */
	uint64_t accept_ms; /* wall clock of the accept, for the auth timeout */
	evcast_esl_parser_t *parser;
	bool authed, closing, close_after_flush, writing, paused;
	bool holding;       /* in conn_process: what it queues is written once, at its end */
	int format;
	evcast_bindings_t *bindings; /* non-NULL while listening for events */
	bool listening;     /* counted in ctl->nlistening; gets events */
	filter_t *filters;
	size_t nfilters;
	out_msg_t *qhead, *qtail;
	size_t qbytes, qcount;
	out_msg_t *inflight[WRITE_BATCH];
	size_t ninflight;
	uv_write_t wreq;
	uint64_t dropped;
	evc__ratelimit_t drop_rl;
	/* esl: pre-auth guard (control_auth.c) */
	struct conn *pa_prev, *pa_next; /* the listener's unauthenticated connections, oldest first */
	struct pa_addr *pa_addr;        /* its source address entry; NULL: not counted */
	int auth_state;                 /* PA_IDLE, PA_HELD (attempt waits), PA_DENIED (-ERR waits) */
	bool auth_ok;                   /* PA_HELD: the attempt's result, told when released */
	bool auth_wait;                 /* reads and commands stop until the guard answers */
	uint64_t auth_due_ms;           /* PA_DENIED: when the -ERR goes out (wall clock) */
	/* sendevent waiting for a writable node (control_wait.c): reads stopped */
	evcast_event_t *bp_ev; /* owned; non-NULL while waiting */
	int bp_watch;          /* its evcast_node_watch_writable id */
	uint64_t bp_t0;        /* evcd_pubwait_begin */
	char bp_id[128];       /* the reply's Event-UUID */
	bool rx_held; /* v2 flow control: this client's queue holds the node's delivery (control.c) */
} conn_t;

struct evcd_control {
	evcd_t *d;
	listener_t *listeners;
	conn_t *conns;
	unsigned next_id;
	unsigned open_handles; /* listeners, connections and the timer not yet closed */
	bool stopping;
	int sub_id;            /* the node subscription shared by every connection */
	size_t nlistening;     /* connections listening for events */
	uv_timer_t sweep;      /* auth timeouts (started when a listener has one) */
	bool sweep_on;
	evcd_control_stats_t st;
	char rbuf[64 * 1024]; /* read buffer shared by all connections (reads are sequential) */
	/* esl: the pre-auth guard's timer (control_auth.c): held and delayed auth answers */
	uv_timer_t pa_timer;
	bool pa_timer_on;
};

/* ---- control.c ---- */
/* uv_listen callback of every listener. */
void evcd_control_on_connection(uv_stream_t *server, int status);
/* A new listener with copies of opts (password included) and label; NULL when
 * out of memory. The caller initialises lis->u, then calls
 * evcd_listener_attach (from then on evcd_control_stop closes and frees it),
 * or evcd_listener_free when the handle could not be initialised. */
listener_t *evcd_listener_new(evcd_control_t *ctl, const evcd_listener_opts_t *opts, const char *label);
void evcd_listener_attach(listener_t *lis);
void evcd_listener_free(listener_t *lis);
/* Payload ownership moves to the message (freed with it, also on failure). */
out_msg_t *evcd_conn_msg_new(char *payload, size_t plen, bool event);
/* Queues m (NULL = out of memory: the connection is closed) and starts writing. */
void evcd_conn_enqueue(conn_t *c, out_msg_t *m);
/* Queues a copy of text. */
void evcd_conn_send(conn_t *c, const char *text, size_t len);
/* Queues "Content-Type: command/reply\nReply-Text: <fmt...>\n\n". */
void evcd_conn_reply(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stops reading, sends what is queued, then closes. */
void evcd_conn_close_after_flush(conn_t *c);
/* Closes c at once (the disconnect notice when it can go without blocking):
 * an unauthenticated connection pushed out by a newer one. */
void evcd_conn_evict(conn_t *c);
/* The guard answered (auth_wait cleared) or a sendevent's waiting event is
 * done: reading resumes (unless output is
 * backed up) and the buffered commands run, in order. */
void evcd_conn_resume(conn_t *c);

/* ---- control.c and control_out.c: each other's connection internals ---- */
/* control.c: closes c (freed from its uv_close callback); runs the buffered
 * commands, then writes; the read callbacks of a connection. */
void evcd_conn_close(conn_t *c);
void evcd_conn_process(conn_t *c);
void evcd_conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void evcd_conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
/* control_out.c: frees a queued message (its shared text unreferenced);
 * writes what is queued; holds or releases the node's receive (flow control)
 * by c's queue; the node subscription's callback (ud: the evcd_control_t). */
void evcd_conn_msg_free(out_msg_t *m);
void evcd_conn_flush(conn_t *c);
void evcd_conn_rx_hold_update(conn_t *c);
void evcd_control_on_node_event(void *ud, const evcast_event_t *ev);

/* ---- control_wait.c ---- */
/* Fires ev (ownership moves) and replies "+OK <id>"; when the node is not
 * writable, the connection stops reading and both wait for it. */
void evcd_conn_sendevent_fire(conn_t *c, evcast_event_t *ev, const char *id);
/* conn_close: drops a waiting sendevent (watcher and event). */
void evcd_conn_sendevent_drop(conn_t *c);

/* Node subscription of the connection (idempotent); unsubscribe also drops
 * the bindings. */
int evcd_conn_subscribe(conn_t *c);
void evcd_conn_unsubscribe(conn_t *c);

/* ---- control_tcp.c ---- */
/* Reads event_socket.conf and opens the TCP listener (nothing without the
 * block). EVCAST_EINVAL: bad config (logged with file:line); EVCAST_EIO:
 * cannot listen. */
int evcd_control_tcp_start(evcd_control_t *ctl);
/* Closes connections that did not authenticate in time (timer callback). */
void evcd_control_sweep(uv_timer_t *t);

/* ---- control_auth.c ---- */
enum { PA_IDLE, PA_HELD, PA_DENIED };
/* The pre-auth guard of lis (limits from lis->opts; the table of addresses is
 * allocated here); NULL when out of memory. Freed with evcd_preauth_free. */
struct evcd_preauth *evcd_preauth_new(listener_t *lis);
void evcd_preauth_free(struct evcd_preauth *g);
/* Starts ctl's timer (once); EVCAST_ENOMEM never: the handle is in ctl. */
void evcd_preauth_timer_init(evcd_control_t *ctl);
/* Closes ctl's timer (evcd_control_stop). */
void evcd_preauth_timer_close(evcd_control_t *ctl);
/* Before a client from sa is accepted on lis: closes the oldest
 * unauthenticated connection of sa's address when it is at its limit, else
 * the oldest of the address holding the most when the listener is at
 * max-unauthenticated. No-op without a guard. */
void evcd_preauth_make_room(listener_t *lis, const struct sockaddr *sa);
/* c, from sa, was accepted: counted until it authenticates or closes. */
void evcd_preauth_add(conn_t *c, const struct sockaddr *sa);
/* c authenticated or closes: no longer counted (idempotent). */
void evcd_preauth_forget(conn_t *c);
/* True when password is the listener's (any, without require_password). */
bool evcd_auth_password_ok(const evcd_listener_opts_t *o, const char *password);
/* "auth" on a guarded connection: answered now, or held while its address
 * waits out its delay (then c->auth_wait stops its commands). */
void evcd_preauth_auth(conn_t *c, const char *password);

/* ---- control_cmd.c ---- */
/* Handles one command block (header "_line" + headers + body). */
void evcd_conn_command(conn_t *c, const evcast_event_t *msg);
/* FreeSWITCH's filter rule over the connection's filters. */
bool evcd_conn_filters_pass(const conn_t *c, const evcast_event_t *ev);
/* Removes the filters of that name (and value, when non-NULL); name NULL: all. */
void evcd_conn_filters_clear(conn_t *c, const char *name, const char *value);

#endif
