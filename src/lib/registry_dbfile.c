/*
 * registry_dbfile.c -- the registration database as a file (registry.h):
 * what happens to it before SQLite opens it and after SQLite gave up on it.
 *
 * Before: the file is created by us with mode 0600 (it holds SIP contacts;
 * SQLite then gives its -wal/-shm the same mode), a wider mode of an existing
 * file or companion is tightened, and what cannot be a database path (a
 * directory, a FIFO, a missing directory, no permission) is told apart from a
 * failure of the disk: the first is a misconfiguration, the second is not.
 * After: a corrupt or foreign file is moved aside with its companions under a
 * name that keeps them together; nothing here ever deletes a file.
 * Sections: prepare, move aside.
 */
#include "registry.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const COMPANIONS[] = {"-wal", "-shm", "-journal"};
#define NCOMP (sizeof(COMPANIONS) / sizeof(COMPANIONS[0]))

/* ---------------------------------------------------------------- prepare */

/* Misconfiguration (an operator must act) or a failure of the disk? */
static bool errno_is_misconfig(int e)
{
	return e == ENOENT || e == ENOTDIR || e == EACCES || e == EPERM || e == EROFS || e == EISDIR ||
	       e == ELOOP || e == ENAMETOOLONG || e == ENXIO || e == ETXTBSY;
}

static void tighten(const evc__logger_t *lg, const char *path, mode_t mode, int fd)
{
	int rc;
	if (!(mode & 077))
		return;
	rc = fd >= 0 ? fchmod(fd, 0600) : chmod(path, 0600);
	if (rc == 0)
		evc__log(lg, EVCAST_LOG_NOTICE, "registrations: %s was mode %04o: now 0600 (it holds SIP contacts)", path,
			 (unsigned)(mode & 07777));
	else
		evc__log(lg, EVCAST_LOG_WARNING,
			 "registrations: %s is mode %04o and cannot be made 0600: %s (it holds SIP contacts)", path,
			 (unsigned)(mode & 07777), strerror(errno));
}

/* A directory others may write (without the sticky bit) lets them replace the
 * database: said once at start, never refused (the operator may know better). */
static void dir_check(const evc__logger_t *lg, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &st) == 0 && (st.st_mode & 022) && !(st.st_mode & S_ISVTX))
		evc__log(lg, EVCAST_LOG_WARNING,
			 "registrations: the directory %s of the database is mode %04o: others can replace the "
			 "database; 0700 is advised", dir, (unsigned)(st.st_mode & 07777));
}

int evc__reg_dbfile_prepare(const evc__logger_t *lg, const char *path, bool *empty, char *err, size_t errlen)
{
	struct stat st;
	char comp[4200];
	int fd, e;
	*empty = false;
	/* O_NONBLOCK: a FIFO at the path must not hang the start; 0600 whatever the umask adds */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT || e == ENOTDIR)
			snprintf(err, errlen, "%s: the directory does not exist (%s)", path, strerror(e));
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return errno_is_misconfig(e) ? EVCAST_EINVAL : EVCAST_EIO;
	}
	if (fstat(fd, &st) != 0) {
		e = errno;
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return EVCAST_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return EVCAST_EINVAL;
	}
	tighten(lg, path, st.st_mode, fd);
	*empty = st.st_size == 0;
	close(fd);
	dir_check(lg, path);
	for (size_t i = 0; i < NCOMP; i++) {
		snprintf(comp, sizeof(comp), "%s%s", path, COMPANIONS[i]);
		if (lstat(comp, &st) == 0 && S_ISREG(st.st_mode))
			tighten(lg, comp, st.st_mode, -1);
	}
	return 0;
}

/* ------------------------------------------------------------- move aside */

static bool taken(const char *base)
{
	struct stat st;
	char p[4200];
	if (lstat(base, &st) == 0)
		return true;
	for (size_t i = 0; i < NCOMP; i++) {
		snprintf(p, sizeof(p), "%s%s", base, COMPANIONS[i]);
		if (lstat(p, &st) == 0)
			return true;
	}
	return false;
}

int evc__reg_dbfile_move_aside(const char *path, char *dst, size_t dstlen, char *err, size_t errlen)
{
	char stamp[32], base[4096], from[4200], to[4200];
	bool moved[NCOMP] = {false};
	time_t now = time(NULL);
	struct tm tm;
	struct stat st;
	if (strlen(path) > 3900) {
		snprintf(err, errlen, "%s: path too long", path);
		return EVCAST_EIO;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(base, sizeof(base), "%s.corrupt-%s", path, stamp);
	for (int n = 1; taken(base); n++) {
		if (n > 99) {
			snprintf(err, errlen, "%s: no free name to move it aside", path);
			return EVCAST_EIO;
		}
		snprintf(base, sizeof(base), "%s.corrupt-%s.%d", path, stamp, n);
	}
	/* companions first: a -wal left next to a fresh file would be replayed into it */
	for (size_t i = 0; i < NCOMP; i++) {
		snprintf(from, sizeof(from), "%s%s", path, COMPANIONS[i]);
		snprintf(to, sizeof(to), "%s%s", base, COMPANIONS[i]);
		if (lstat(from, &st) != 0)
			continue;
		if (rename(from, to) != 0) {
			snprintf(err, errlen, "%s: cannot rename to %s: %s", from, to, strerror(errno));
			goto undo;
		}
		moved[i] = true;
	}
	if (rename(path, base) != 0) {
		snprintf(err, errlen, "%s: cannot rename to %s: %s", path, base, strerror(errno));
		goto undo;
	}
	snprintf(dst, dstlen, "%s", base);
	return 0;
undo:
	for (size_t i = 0; i < NCOMP; i++)
		if (moved[i]) {
			snprintf(from, sizeof(from), "%s%s", path, COMPANIONS[i]);
			snprintf(to, sizeof(to), "%s%s", base, COMPANIONS[i]);
			(void)rename(to, from);
		}
	return EVCAST_EIO;
}
