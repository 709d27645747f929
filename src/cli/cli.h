/*
 * cli.h -- what the evcast CLI's files share: exit codes, the global context,
 * the blocking event-socket client (esl_client.c) and the command entry points
 * (cmd_*.c, dispatched from main.c).
 *
 * Exit codes: 0 ok, 1 rejected input or daemon error (including "cannot
 * connect"), 2 usage. Every command prints its own --help. Errors go to stderr
 * as one line starting with "evcast <command>: ".
 */
#ifndef EVCAST_CLI_H
#define EVCAST_CLI_H

#include "evcast/evcast.h"
#include <signal.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct cli {
	const char *socket_path; /* -s/--socket, $EVCAST_SOCKET, or the default */
} cli_t;

/* ---- esl_client.c: blocking client of the daemon's control socket ---- */
typedef struct esl_client {
	int fd;
	evcast_esl_parser_t *parser;
	const char *path;
	/* NULL, or the signal mask esl_recv waits with (ppoll): a caller that
	 * keeps its stop signals blocked gets them only while waiting, as EINTR,
	 * never lost between two waits (evcast listen) */
	const sigset_t *wait_mask;
} esl_client_t;

/* Connects to path and authenticates. On failure prints why (path, errno) on
 * stderr prefixed with who, and returns CLI_FAIL; CLI_OK otherwise. */
int esl_open(esl_client_t *c, const char *path, const char *who);
void esl_close(esl_client_t *c);
/* Writes all of data. 0, or -1 with errno set. */
int esl_send(esl_client_t *c, const char *data, size_t len);
/* Next message from the daemon: 1 and *msg (freed by the caller), 0 when the
 * daemon closed the connection, negative on error (errno EINTR when a signal
 * interrupted the wait). */
int esl_recv(esl_client_t *c, evcast_event_t **msg);
/* Sends one command block (text must end with the blank line) and waits for
 * its command/reply or api/response, skipping events. 1 and *reply, 0 on
 * close, negative on error. */
int esl_command(esl_client_t *c, const char *text, size_t len, evcast_event_t **reply);

/* Runs "api CMDLINE" against the daemon and prints the response on stdout.
 * Returns CLI_OK, or CLI_FAIL when it cannot connect or the answer is -ERR. */
int cli_api_print(const cli_t *cli, const char *who, const char *cmdline);

/* ---- commands: argv[0] is the command name ---- */
int cmd_peers(const cli_t *cli, int argc, char **argv);
int cmd_send(const cli_t *cli, int argc, char **argv);
int cmd_listen(const cli_t *cli, int argc, char **argv);
int cmd_encode(const cli_t *cli, int argc, char **argv);
int cmd_decode(const cli_t *cli, int argc, char **argv);
int cmd_keygen(const cli_t *cli, int argc, char **argv);  /* cmd_keygen.c */
int cmd_top(const cli_t *cli, int argc, char **argv);     /* cmd_top.c */
int cmd_api(const cli_t *cli, int argc, char **argv);
int cmd_stats(const cli_t *cli, int argc, char **argv);
int cmd_reload(const cli_t *cli, int argc, char **argv);
int cmd_registrations(const cli_t *cli, int argc, char **argv); /* cmd_reg.c */
int cmd_locate(const cli_t *cli, int argc, char **argv);        /* cmd_reg.c */

#endif
