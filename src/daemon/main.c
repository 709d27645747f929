/*
 * main.c -- evcastd: startup, daemonizing, signals, reload, logging.
 *
 * Owns the process: parses the command line, loads the configuration and
 * validates every block (config_check.c; an error is printed and the exit
 * status is 1, before the fork), then initialises the modules in dependency
 * order -- loop, node, control socket, metrics, Lua -- and finalises them in
 * reverse on SIGINT/SIGTERM until uv_loop_close succeeds. SIGHUP reloads the
 * same file (evcd_reload: validated whole first; an invalid block keeps the
 * old configuration). --check-config validates and exits 0/1. Logs go
 * to stderr as "YYYY-mm-dd HH:MM:SS.mmm [level] message"; at info and debug a
 * line per delivered event. Without --foreground the process forks, the parent
 * waits until the child is listening (or failed) and exits with that status.
 * Sections: logging, event log consumer, reload, shutdown, startup, main.
 */
#include "daemon.h"
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef struct daemon_state {
	evcd_t d;
	uv_loop_t loop;
	uv_signal_t sig_hup, sig_int, sig_term;
	int log_sub;          /* node consumer id of on_node_event (receive delay, event log) */
	int cli_log_level;    /* --log-level, or -1: the config decides */
	bool stopping, signals_on;
	int exit_code;
} daemon_state_t;

/* -------------------------------------------------------------- logging */

void evcd_log(void *ud, int level, const char *msg)
{
	const evcd_t *d = ud;
	char line[1400], stamp[32], safe[1200];
	struct timeval tv;
	struct tm tm;
	int n;
	if (d && d->check) { /* a validation context (config_check.c): collect the line */
		evcd_check_note(d->check, level, msg);
		if (d->check->quiet)
			return;
	}
	if (d && level > d->log_level)
		return;
	/* the last guard: one message, one line, no terminal sequence, whatever a
	 * network string that reached a format unescaped held (log.c, EVC__ESC_SINK) */
	evc__escape(msg, safe, sizeof(safe), EVC__ESC_SINK);
	msg = safe;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ld [%s] %s\n", stamp, (long)(tv.tv_usec / 1000),
		     evcast_log_level_name(level), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* one write per line: lines from several threads (Lua) never interleave */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void evcd_logf(evcd_t *d, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (d && level > d->log_level && !(d->check && level <= EVCAST_LOG_WARNING))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evcd_log(d, level, msg);
}

/* ---------------------------------------------------- event log consumer */

static const char *hdr(const evcast_event_t *ev, const char *name, const char *dflt)
{
	const char *v = evcast_event_get_header(ev, name);
	return v && *v ? v : dflt;
}

/* The daemon's own consumer of every delivered event: an event from a peer
 * goes into the receive-delay histogram (rxdelay.h), then, with log_events,
 * one line per event at info. Peer up/down are not repeated here: the node
 * logs them itself, at notice. */
static void on_node_event(void *ud, const evcast_event_t *ev)
{
	evcd_t *d = ud;
	const char *name = hdr(ev, "Event-Name", "?"), *sub = evcast_event_subclass(ev);
	if (sub && strcmp(name, "CUSTOM") == 0 &&
	    (strcmp(sub, "multicast::peerup") == 0 || strcmp(sub, "multicast::peerdown") == 0))
		return;
	if (sub && strcmp(sub, "multicast::event") == 0) { /* from a peer: how late (rxdelay.h) */
		const char *ts = evcast_event_get_header(ev, "Orig-Event-Date-Timestamp");
		char *end;
		unsigned long long v = ts ? strtoull(ts, &end, 10) : 0;
		if (v > 0 && *end == '\0')
			evcd_rxdelay_add(&d->rxdelay, v, evc__wall_us());
	}
	if (!d->log_events)
		return;
	/* every part from the network (a peer, an event-socket client): escaped */
	char e[3][256];
	if (sub && strcmp(sub, "multicast::event") == 0 && evcast_event_get_header(ev, "Orig-Event-Name")) {
		/* received from the group: name the original event and its sender */
		const char *osub = evcast_event_get_header(ev, "Orig-Event-Subclass");
		evcast_escape_text(hdr(ev, "Orig-Event-Name", "?"), e[0], sizeof(e[0]));
		evcast_escape_text(osub ? osub : "", e[1], sizeof(e[1]));
		evcast_escape_text(hdr(ev, "Orig-Multicast-Sender", hdr(ev, "Multicast-Sender", "?")), e[2], sizeof(e[2]));
		evcd_logf(d, EVCAST_LOG_INFO, "event %s%s%s from %s", e[0], osub ? "/" : "", e[1], e[2]);
		return;
	}
	evcast_escape_text(name, e[0], sizeof(e[0]));
	evcast_escape_text(sub ? sub : "", e[1], sizeof(e[1]));
	evcast_escape_text(hdr(ev, "Multicast-Sender", "local"), e[2], sizeof(e[2]));
	evcd_logf(d, EVCAST_LOG_INFO, "event %s%s%s from %s", e[0], sub ? "/" : "", e[1], e[2]);
}

/* ---------------------------------------------------------------- reload */

/* The file is read (without blocking: config.c refuses what is not a regular
 * file) and EVERY block validated (config_check.c) before anything is applied;
 * one invalid block refuses the whole file, with the reasons, and the
 * configuration in force stays as it was. The blocks read only when their
 * module starts are named in msg and in the log when they changed. */
int evcd_reload(evcd_t *d, char *msg, size_t msglen)
{
	daemon_state_t *st = (daemon_state_t *)d; /* d is the first member of the one daemon_state_t */
	evcast_config_t *cfg = NULL;
	evcd_check_t *chk = NULL;
	char err[EVCD_RELOAD_MSG], dummy[EVCD_RELOAD_MSG], deferred[256];
	int rc;
	if (!msg || !msglen) {
		msg = dummy;
		msglen = sizeof(dummy);
	}
	rc = evcast_config_load(d->config_path, evcd_log, d, &cfg, err, sizeof(err));
	if (rc == 0 && !(chk = evc__malloc(sizeof(*chk))))
		rc = EVCAST_ENOMEM;
	if (rc == 0 && (rc = evcd_config_check(cfg, d->config_path, d->log_level, false, chk)) < 0)
		evcd_check_reasons(chk, err, sizeof(err));
	evc__free(chk);
	if (rc < 0) {
		d->config_errors++;
		snprintf(msg, msglen, "%s rejected, keeping the running configuration: %s", d->config_path,
			 err[0] ? err : evcast_strerror(rc));
		evcd_logf(d, EVCAST_LOG_ERR, "reload: %s", msg);
		evcast_config_free(cfg);
		return rc;
	}
	if (st->cli_log_level >= 0)
		cfg->log_level = st->cli_log_level; /* the command line wins */
	rc = d->node ? evcast_node_reload(d->node, cfg) : EVCAST_ESTATE;
	if (rc < 0) {
		snprintf(msg, msglen, "%s could not be applied (%s), keeping the running configuration",
			 d->config_path, evcast_strerror(rc));
		evcd_logf(d, EVCAST_LOG_ERR, "reload: %s", msg);
		evcast_config_free(cfg);
		return rc;
	}
	if (rc == 1) {
		snprintf(msg, msglen, "configuration unchanged");
		evcd_logf(d, EVCAST_LOG_NOTICE, "reload: configuration unchanged");
		evcast_config_free(cfg);
		return 1;
	}
	/* against what the modules started with: a change still waiting for a
	 * restart stays listed at every later reload */
	evcd_config_deferred(d->start_cfg ? d->start_cfg : d->cfg, cfg, deferred, sizeof(deferred));
	if (deferred[0])
		evcd_logf(d, EVCAST_LOG_WARNING, "reload: %s changes apply at the next start", deferred);
	if (d->start_cfg)
		evcast_config_free(d->cfg);
	else
		d->start_cfg = d->cfg;
	d->cfg = cfg;
	d->log_level = cfg->log_level;
	d->log_events = d->log_level >= EVCAST_LOG_INFO;
	if (deferred[0])
		snprintf(msg, msglen, "configuration reloaded from %s; at the next start: %s", d->config_path, deferred);
	else
		snprintf(msg, msglen, "configuration reloaded from %s", d->config_path);
	evcd_logf(d, EVCAST_LOG_NOTICE, "reload: %s", msg);
	return 0;
}

/* -------------------------------------------------------------- shutdown */

static void on_node_closed(void *ud)
{
	daemon_state_t *st = ud;
	st->d.node = NULL;
}

/* Stops every module in reverse order of start; the loop then runs out. */
static void shutdown_all(daemon_state_t *st)
{
	evcd_t *d = &st->d;
	if (st->stopping)
		return;
	st->stopping = true;
	evcd_lua_stop(d);
	evcd_nats_stop(d);
	evcd_sidecar_stop(d);
	evcd_presence_stop(d);
	evcd_reg_stop(d);
	evcd_metrics_stop(d);
	evcd_control_stop(d);
	if (d->node) {
		if (st->log_sub > 0)
			evcast_node_unsubscribe(d->node, st->log_sub);
		st->log_sub = 0;
		evcast_node_close(d->node, on_node_closed, st);
	}
	if (st->signals_on) {
		st->signals_on = false;
		uv_close((uv_handle_t *)&st->sig_hup, NULL);
		uv_close((uv_handle_t *)&st->sig_int, NULL);
		uv_close((uv_handle_t *)&st->sig_term, NULL);
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	daemon_state_t *st = h->data;
	if (signum == SIGHUP) {
		evcd_logf(&st->d, EVCAST_LOG_NOTICE, "SIGHUP: reloading %s", st->d.config_path);
		evcd_reload(&st->d, NULL, 0);
		return;
	}
	evcd_logf(&st->d, EVCAST_LOG_NOTICE, "%s: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
	shutdown_all(st);
}

static void on_walk(uv_handle_t *h, void *ud)
{
	evcd_logf(ud, EVCAST_LOG_ERR, "handle left open at exit: %s%s", uv_handle_type_name(uv_handle_get_type(h)),
		  uv_is_closing(h) ? " (closing)" : "");
}

/* --------------------------------------------------------------- startup */

/* Forks; the parent waits for one byte from the child ("started") and exits 0,
 * or exits 1 when the child dies first. Returns the pipe's write end in the child. */
static int daemonize(void)
{
	int fds[2], devnull;
	pid_t pid;
	char c;
	if (pipe(fds) < 0) {
		fprintf(stderr, "evcastd: pipe: %s\n", strerror(errno));
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "evcastd: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		ssize_t n;
		close(fds[1]);
		do
			n = read(fds[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 ? 0 : 1);
	}
	close(fds[0]);
	setsid();
	if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	return fds[1]; /* stderr stays: the log goes there */
}

/* A module's start failed: EINVAL means its configuration block was refused
 * (the reason, naming file, line and param, is already logged). */
static int start_failed(evcd_t *d, const char *what, int rc)
{
	if (rc == EVCAST_EINVAL)
		evcd_logf(d, EVCAST_LOG_ERR, "not starting: the %s configuration is refused (see above)", what);
	else
		evcd_logf(d, EVCAST_LOG_ERR, "cannot start the %s: %s", what, evcast_strerror(rc));
	return rc;
}

/* Before anything starts (and before the fork, so the shell sees it): every
 * block validated as --check-config and a reload do; the reasons are logged
 * (stderr). Returns 0, or 1, the exit status. */
static int start_check(evcd_t *d)
{
	evcd_check_t *chk = evc__malloc(sizeof(*chk));
	int rc = chk ? evcd_config_check(d->cfg, d->config_path, d->log_level, false, chk) : EVCAST_ENOMEM;
	evc__free(chk);
	if (rc == 0)
		return 0;
	fprintf(stderr, "evcastd: not starting: %s is refused (%s; see above)\n", d->config_path,
		rc == EVCAST_ENOMEM ? "out of memory" : "invalid configuration");
	return 1;
}

/* Every module is set up before the node starts sending: a block a module
 * refuses stops the start before the first HEARTBEAT leaves. */
static int start_all(daemon_state_t *st)
{
	evcd_t *d = &st->d;
	int rc;
	if ((rc = evcast_node_new(d->loop, d->cfg, evcd_log, d, &d->node)) < 0)
		return start_failed(d, "node", rc);
	st->log_sub = evcast_node_subscribe(d->node, on_node_event, d);
	if ((rc = evcd_control_start(d, d->cfg->control_socket ? d->cfg->control_socket
							      : EVCAST_DEFAULT_CONTROL_SOCKET)) < 0)
		return start_failed(d, "control socket / event socket", rc);
	if ((rc = evcd_metrics_start(d)) < 0) /* nothing unless metrics.conf enables it */
		return start_failed(d, "metrics endpoint", rc);
	if ((rc = evcd_reg_start(d)) < 0) /* nothing unless registrations.conf is present */
		return start_failed(d, "registration store", rc);
	if ((rc = evcd_presence_start(d)) < 0) /* nothing unless presence.conf is present */
		return start_failed(d, "presence relay", rc);
	if ((rc = evcd_sidecar_start(d)) < 0) /* nothing unless sidecar.conf is present */
		return start_failed(d, "FreeSWITCH sidecar", rc);
	if ((rc = evcd_nats_start(d)) < 0) /* nothing unless nats.conf is present */
		return start_failed(d, "NATS link", rc);
	if ((rc = evcd_lua_start(d)) < 0)
		return start_failed(d, "Lua", rc);
	if ((rc = evcast_node_start(d->node)) < 0)
		return start_failed(d, "node", rc);
	uv_signal_init(d->loop, &st->sig_hup);
	uv_signal_init(d->loop, &st->sig_int);
	uv_signal_init(d->loop, &st->sig_term);
	st->sig_hup.data = st->sig_int.data = st->sig_term.data = st;
	uv_signal_start(&st->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&st->sig_int, on_signal, SIGINT);
	uv_signal_start(&st->sig_term, on_signal, SIGTERM);
	st->signals_on = true;
	return 0;
}

/* ------------------------------------------------------------------ main */

/* Loads path and validates every block with the start's own code, printing
 * each reason (and warning) on stderr as "evcastd: error: ...". Returns the
 * exit status: 0 valid, 1 not. Opens no socket and starts nothing. */
static int check_config(const char *path)
{
	evcast_config_t *cfg = NULL;
	evcd_check_t *chk = evc__calloc(1, sizeof(*chk));
	char err[EVCD_RELOAD_MSG] = "";
	int rc;
	if (!chk) {
		fprintf(stderr, "evcastd: out of memory\n");
		return 1;
	}
	/* the load's own warnings (event_multicast.conf) are collected too */
	evcd_t scratch = {.log_level = EVCAST_LOG_DEBUG, .check = chk};
	chk->quiet = true;
	rc = evcast_config_load(path, evcd_log, &scratch, &cfg, err, sizeof(err));
	if (rc < 0) {
		fputs(chk->text, stderr);
		fprintf(stderr, "evcastd: error: %s\nevcastd: %s: configuration invalid\n", err[0] ? err : evcast_strerror(rc),
			path);
		evc__free(chk);
		return 1;
	}
	evcd_check_t load = *chk;
	rc = evcd_config_check(cfg, path, EVCAST_LOG_DEBUG, true, chk);
	for (const char *t = load.text; *t; t = strchr(t, '\n') + 1) /* every line ends in \n */
		fprintf(stderr, "evcastd: %.*s\n", (int)(strchr(t, '\n') - t), t);
	for (const char *t = chk->text; *t; t = strchr(t, '\n') + 1)
		fprintf(stderr, "evcastd: %.*s\n", (int)(strchr(t, '\n') - t), t);
	if (chk->nlost + load.nlost)
		fprintf(stderr, "evcastd: (%u more line(s) not shown)\n", chk->nlost + load.nlost);
	if (rc < 0)
		fprintf(stderr, "evcastd: %s: configuration invalid (%u error(s))\n", path, chk->nerrors);
	else
		printf("evcastd: %s: configuration valid (%zu block(s), %u warning(s))\n", path, cfg->nsections,
		       chk->nwarnings + load.nwarnings);
	evcast_config_free(cfg);
	evc__free(chk);
	return rc < 0 ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: evcastd --config FILE [--foreground] [--log-level LEVEL]\n"
		   "       evcastd --check-config [--config FILE]\n"
		   "       evcastd --help | --version\n"
		   "\n"
		   "  -c, --config FILE      event_multicast.conf XML (or an <evcast> root)\n"
		   "  -f, --foreground       stay attached to the terminal (default: fork to the background)\n"
		   "  -l, --log-level LEVEL  err, warning, notice, info or debug (overrides the config's log-level)\n"
		   "  -t, --check-config     read and validate every block of the file, print the reasons and\n"
		   "                         exit 0 (valid) or 1; opens no socket, starts nothing (default\n"
		   "                         FILE: " EVCD_DEFAULT_CONFIG ")\n"
		   "  -h, --help             this text\n"
		   "  -V, --version          print the version\n"
		   "\n"
		   "Signals: SIGHUP reloads the configuration, SIGINT/SIGTERM stop.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
		{"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},       {"check-config", no_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	daemon_state_t st;
	evcd_t *d = &st.d;
	const char *config = NULL;
	char err[512] = "";
	int opt, rc, ready_fd = -1;
	bool check_only = false;
	memset(&st, 0, sizeof(st));
	st.cli_log_level = -1;
	d->log_level = EVCAST_LOG_NOTICE;
	while ((opt = getopt_long(argc, argv, "c:fl:htV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 't': check_only = true; break;
		case 'f': d->foreground = true; break;
		case 'l':
			if ((st.cli_log_level = evcast_log_level_parse(optarg)) < 0) {
				fprintf(stderr, "evcastd: invalid log level \"%s\" (err, warning, notice, info, debug)\n",
					optarg);
				return 2;
			}
			d->log_level = st.cli_log_level;
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("evcastd %s\n", EVCAST_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (check_only && optind == argc)
		return check_config(config ? config : EVCD_DEFAULT_CONFIG);
	if (!config || optind != argc) {
		if (optind != argc)
			fprintf(stderr, "evcastd: unexpected argument \"%s\"\n", argv[optind]);
		else
			fprintf(stderr, "evcastd: --config FILE is required\n");
		usage(stderr);
		return 2;
	}
	d->config_path = realpath(config, NULL);
	if (!d->config_path) {
		fprintf(stderr, "evcastd: %s: %s\n", config, strerror(errno));
		return 1;
	}
	if ((rc = evcast_config_load(d->config_path, evcd_log, d, &d->cfg, err, sizeof(err))) < 0) {
		fprintf(stderr, "evcastd: %s\n", err[0] ? err : evcast_strerror(rc));
		free(d->config_path);
		return 1;
	}
	if ((rc = start_check(d)) != 0) {
		evcast_config_free(d->cfg);
		free(d->config_path);
		return rc;
	}
	if (st.cli_log_level >= 0)
		d->cfg->log_level = st.cli_log_level; /* the node logs at that level too */
	d->log_level = d->cfg->log_level;
	d->log_events = d->log_level >= EVCAST_LOG_INFO;
	signal(SIGPIPE, SIG_IGN);
	if (!d->foreground)
		ready_fd = daemonize();

	if ((rc = uv_loop_init(&st.loop)) < 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "uv_loop_init: %s", uv_strerror(rc));
		return 1;
	}
	d->loop = &st.loop;
	d->start_ms = evc__wall_ms();
	evcd_logf(d, EVCAST_LOG_NOTICE, "evcastd %s starting with %s (pid %ld)", EVCAST_VERSION, d->config_path,
		  (long)getpid());
	rc = start_all(&st);
	if (rc < 0) {
		st.exit_code = 1;
		shutdown_all(&st); /* ready_fd stays open: the parent exits 1 once we are gone */
	} else {
		evcd_logf(d, EVCAST_LOG_NOTICE, "node %s running", evcast_node_name(d->node));
		if (ready_fd >= 0) {
			(void)!chdir("/");
			(void)!write(ready_fd, "1", 1);
			close(ready_fd);
		}
	}
	uv_run(&st.loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&st.loop)) != 0) {
		evcd_logf(d, EVCAST_LOG_ERR, "uv_loop_close: %s", uv_strerror(rc));
		uv_walk(&st.loop, on_walk, d);
		st.exit_code = 1;
	}
	evcd_logf(d, EVCAST_LOG_NOTICE, "evcastd stopped");
	evcast_config_free(d->cfg);
	evcast_config_free(d->start_cfg);
	free(d->config_path);
	return st.exit_code;
}
