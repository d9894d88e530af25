/* podwire-cni.c — host program (not a BPF program): the CNI plugin's fast path.
 *
 * Why: the runtime execs the plugin for every pod; a Node.js start plus module loading costs
 * ~100 ms, a connect to the running agent well under one. This shim forwards the request to the
 * agent (src/agent/cni-server.ts), which runs the same plugin core (src/cni runCni), and prints
 * its answer. Without an agent it execs the full plugin, so a node keeps wiring pods while the
 * agent restarts.
 *
 * Contract (installed or linked under the plugin name, e.g. CNI_PATH/podwire):
 *   1. stdin is read to EOF (not read when it is a terminal), every CNI_* variable collected.
 *   2. Socket: the value of "agentSocket" in the config on stdin (a plain string search for the
 *      key: a value with JSON escapes is not used), else $PODWIRE_CNI_SOCKET, else
 *      /run/podwire/cni.sock.
 *   3. Request, one per connection: {"env":{"CNI_…":"…",…},"stdin":"…"} then shutdown(SHUT_WR);
 *      reply: {"exitCode":N,"stdout":"…","stderr":"…"}. stdout and stderr are written verbatim,
 *      the exit status is exitCode.
 *   4. Fallback when the socket cannot be connected (no socket file, a stale one, path too long,
 *      permission): exec the full plugin — the value of "fallback" in the config if present,
 *      else the path this program was invoked as (argv[0], which runtimes set to the plugin's
 *      full path) with "-full" appended, e.g. /opt/cni/bin/podwire-full — with the same argv,
 *      the same environment and the saved stdin on fd 0 through a pipe, so it sees exactly the
 *      input we saw.
 *   6. VERSION is answered here, with no agent and no fallback (podman sends it before every
 *      command): the versions come from src/cni/version.ts through the build.
 *   5. Once connected there is no fallback (a half-done ADD must not run twice): a lost
 *      connection or a malformed reply prints a CNI error JSON (code 5 for I/O, 999 for
 *      anything else) on stdout, one line on stderr, and exits 1.
 * Only libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_SOCKET "/run/podwire/cni.sock"

/* The spec versions the plugin speaks: passed by the build from src/cni/version.ts (the one
 * source), so VERSION — which podman sends before every command — needs no agent and no Node. */
#ifndef PW_CNI_SUPPORTED
#error "build with -DPW_CNI_SUPPORTED='\"0.3.0\",…' (src/build/tools.mjs does)"
#endif
#ifndef PW_CNI_LATEST
#error "build with -DPW_CNI_LATEST='\"1.1.0\"' (src/build/tools.mjs does)"
#endif
#define CNI_IO_FAILED 5
#define CNI_INTERNAL 999

struct buf {
	char *p;
	size_t len, cap;
};

static const char *cni_version = PW_CNI_LATEST;

/* The spec's error JSON on stdout (what the runtime acts on) plus one line on stderr. */
static void __attribute__((noreturn, format(printf, 2, 3))) fail(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":\"", cni_version, code);
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	printf("\"}\n");
	fflush(stdout);
	fprintf(stderr, "podwire-cni: CNI error %d: %s\n", code, msg);
	exit(1);
}

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			fail(CNI_INTERNAL, "out of memory (%zu bytes)", cap);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0'; /* always a C string too: the key searches rely on it */
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Read fd to EOF into b. */
static int slurp(int fd, struct buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		put(b, chunk, (size_t)n);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Append s[0..n) as a JSON string literal. Bytes >= 0x80 pass through (UTF-8 stays UTF-8). */
static void put_json_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			put(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			put(b, e, 6);
		} else {
			put(b, &s[i], 1);
		}
	}
	put(b, "\"", 1);
}

/*
 * The string value of "key" in the config text, copied into out (NUL-terminated). A minimal
 * search, not a JSON parser: the first occurrence of "key" followed by ':' and a string. Values
 * with backslashes are refused (0) rather than half-decoded.
 */
static int config_string(const char *text, const char *key, char *out, size_t outsz)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	for (const char *p = strstr(text, pat); p; p = strstr(p + 1, pat)) {
		const char *q = p + strlen(pat);
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q != ':')
			continue;
		q++;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q != '"')
			continue;
		q++;
		const char *end = strchr(q, '"');
		if (!end || memchr(q, '\\', (size_t)(end - q)) || (size_t)(end - q) >= outsz || end == q)
			return 0;
		memcpy(out, q, (size_t)(end - q));
		out[end - q] = '\0';
		return 1;
	}
	return 0;
}

/* Exec the full plugin with the saved stdin on fd 0. Returns only to report a failure. */
static void __attribute__((noreturn)) fallback(char **argv, const char *stdin_text, size_t stdin_len, const char *why)
{
	static char path[4096];
	if (!config_string(stdin_text, "fallback", path, sizeof(path))) {
		if (snprintf(path, sizeof(path), "%s-full", argv[0]) >= (int)sizeof(path))
			fail(CNI_INTERNAL, "cannot reach the agent (%s) and the fallback path is too long", why);
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fail(CNI_IO_FAILED, "cannot reach the agent (%s) and pipe() failed: %s", why, strerror(errno));
	/* Most configs fit a pipe's buffer: write it all now. A larger one gets a writer child. */
	if (stdin_len > 65536)
		(void)fcntl(p[1], F_SETPIPE_SZ, (int)(stdin_len > (1 << 20) ? (1 << 20) : stdin_len));
	int cap = fcntl(p[1], F_GETPIPE_SZ);
	if (cap >= 0 && stdin_len <= (size_t)cap) {
		if (write_all(p[1], stdin_text, stdin_len) < 0)
			fail(CNI_IO_FAILED, "cannot reach the agent (%s) and writing the config to the fallback failed: %s", why, strerror(errno));
	} else {
		pid_t w = fork();
		if (w < 0)
			fail(CNI_IO_FAILED, "cannot reach the agent (%s) and fork() failed: %s", why, strerror(errno));
		if (w == 0) {
			close(p[0]);
			signal(SIGPIPE, SIG_IGN);
			_exit(write_all(p[1], stdin_text, stdin_len) < 0 ? 1 : 0);
		}
	}
	close(p[1]);
	if (dup2(p[0], 0) < 0) /* dup2 clears O_CLOEXEC on the new descriptor */
		fail(CNI_IO_FAILED, "cannot reach the agent (%s) and dup2() failed: %s", why, strerror(errno));
	argv[0] = path;
	execv(path, argv);
	fail(CNI_IO_FAILED, "cannot reach the agent (%s) and cannot exec the full plugin %s: %s; install it there or set \"fallback\" in the plugin config",
	     why, path, strerror(errno));
}

/* A JSON string at *pp (after the opening quote) decoded into b as UTF-8. */
static int parse_string(const char **pp, struct buf *b)
{
	const char *p = *pp;
	for (;;) {
		unsigned char c = (unsigned char)*p;
		if (c == '\0')
			return -1;
		if (c == '"') {
			*pp = p + 1;
			return 0;
		}
		if (c != '\\') {
			put(b, p, 1);
			p++;
			continue;
		}
		p++;
		char e = *p++;
		char ch;
		switch (e) {
		case '"': ch = '"'; break;
		case '\\': ch = '\\'; break;
		case '/': ch = '/'; break;
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 0; i < 4; i++, p++) {
				char h = *p;
				cp <<= 4;
				if (h >= '0' && h <= '9') cp |= (unsigned)(h - '0');
				else if (h >= 'a' && h <= 'f') cp |= (unsigned)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F') cp |= (unsigned)(h - 'A' + 10);
				else return -1;
			}
			/* a surrogate pair is one code point; a lone surrogate becomes U+FFFD */
			if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u' && p[2] && p[3] && p[4] && p[5]) {
				unsigned lo = (unsigned)strtoul((char[]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;
			char u[4];
			size_t n;
			if (cp < 0x80) { u[0] = (char)cp; n = 1; }
			else if (cp < 0x800) { u[0] = (char)(0xc0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
			else if (cp < 0x10000) { u[0] = (char)(0xe0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[2] = (char)(0x80 | (cp & 0x3f)); n = 3; }
			else { u[0] = (char)(0xf0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4; }
			put(b, u, n);
			continue;
		}
		default:
			return -1;
		}
		put(b, &ch, 1);
	}
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* The agent's reply: a flat object of string and integer members. */
static int parse_reply(const char *p, long *exit_code, struct buf *out, struct buf *err)
{
	int have_exit = 0, have_out = 0;
	p = skip_ws(p);
	if (*p++ != '{')
		return -1;
	for (;;) {
		p = skip_ws(p);
		if (*p == '}')
			break;
		if (*p++ != '"')
			return -1;
		struct buf key = {0};
		if (parse_string(&p, &key) < 0) {
			free(key.p);
			return -1;
		}
		p = skip_ws(p);
		if (*p++ != ':') {
			free(key.p);
			return -1;
		}
		p = skip_ws(p);
		if (*p == '"') {
			p++;
			struct buf junk = {0};
			struct buf *dst = &junk;
			if (key.p && !strcmp(key.p, "stdout")) { dst = out; have_out = 1; }
			else if (key.p && !strcmp(key.p, "stderr")) dst = err;
			int r = parse_string(&p, dst);
			free(junk.p);
			if (r < 0) {
				free(key.p);
				return -1;
			}
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			char *end;
			long v = strtol(p, &end, 10);
			if (key.p && !strcmp(key.p, "exitCode")) { *exit_code = v; have_exit = 1; }
			p = end;
		} else {
			free(key.p);
			return -1;
		}
		free(key.p);
		p = skip_ws(p);
		if (*p == ',')
			p++;
	}
	return have_exit && have_out ? 0 : -1;
}

int main(int argc, char **argv)
{
	(void)argc;
	/* a runtime that stops reading must not kill us mid-write without an exit status */
	signal(SIGPIPE, SIG_IGN);

	struct buf in = {0};
	put(&in, "", 0);
	if (!isatty(0) && slurp(0, &in) < 0)
		fail(CNI_IO_FAILED, "cannot read the network configuration from stdin: %s", strerror(errno));
	static char version[32];
	if (config_string(in.p, "cniVersion", version, sizeof(version)))
		cni_version = version;

	/* VERSION answers locally, byte for byte what the full plugin prints: the version it was
	 * asked in (else the latest) and the supported list. */
	const char *command = getenv("CNI_COMMAND");
	if (command && strcmp(command, "VERSION") == 0) {
		static const char *const supported[] = {PW_CNI_SUPPORTED};
		printf("{\"cniVersion\":\"%s\",\"supportedVersions\":[", cni_version);
		for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++)
			printf("%s\"%s\"", i ? "," : "", supported[i]);
		printf("]}\n");
		return fflush(stdout) == 0 ? 0 : 1;
	}

	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	static char found[4096];
	const char *path = DEFAULT_SOCKET;
	if (config_string(in.p, "agentSocket", found, sizeof(found)))
		path = found;
	else if (getenv("PODWIRE_CNI_SOCKET") && *getenv("PODWIRE_CNI_SOCKET"))
		path = getenv("PODWIRE_CNI_SOCKET");
	if (strlen(path) >= sizeof(sock_path))
		fallback(argv, in.p, in.len, "socket path longer than a Unix socket path can be");
	strcpy(sock_path, path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail(CNI_IO_FAILED, "socket(AF_UNIX): %s", strerror(errno));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		char why[600];
		snprintf(why, sizeof(why), "connect %s: %s", sock_path, strerror(errno));
		close(fd);
		fallback(argv, in.p, in.len, why);
	}

	struct buf req = {0};
	puts_(&req, "{\"env\":{");
	int first = 1;
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (strncmp(*e, "CNI_", 4) != 0 || !eq)
			continue;
		if (!first)
			put(&req, ",", 1);
		first = 0;
		put_json_string(&req, *e, (size_t)(eq - *e));
		put(&req, ":", 1);
		put_json_string(&req, eq + 1, strlen(eq + 1));
	}
	puts_(&req, "},\"stdin\":");
	put_json_string(&req, in.p, in.len);
	puts_(&req, "}");
	if (write_all(fd, req.p, req.len) < 0)
		fail(CNI_IO_FAILED, "sending the request to the agent at %s failed: %s", sock_path, strerror(errno));
	if (shutdown(fd, SHUT_WR) < 0)
		fail(CNI_IO_FAILED, "shutdown of the request to the agent at %s failed: %s", sock_path, strerror(errno));

	struct buf reply = {0};
	put(&reply, "", 0);
	if (slurp(fd, &reply) < 0)
		fail(CNI_IO_FAILED, "reading the agent's reply from %s failed: %s", sock_path, strerror(errno));
	close(fd);
	if (reply.len == 0)
		fail(CNI_IO_FAILED, "the agent at %s closed the connection without a reply (did it stop?); the runtime will retry", sock_path);

	long code = 1;
	struct buf out = {0}, err = {0};
	put(&out, "", 0);
	put(&err, "", 0);
	if (parse_reply(reply.p, &code, &out, &err) < 0)
		fail(CNI_INTERNAL, "the agent at %s sent a malformed reply (%zu bytes)", sock_path, reply.len);
	if (write_all(1, out.p, out.len) < 0 || (err.len && write_all(2, err.p, err.len) < 0))
		return 1;
	return (int)(code & 0xff);
}
