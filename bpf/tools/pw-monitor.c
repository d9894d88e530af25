/* pw-monitor.c — host helper (not a BPF program): the listener of `podwire monitor`. Opens the
 * gate of the datapath's event stream (lib/monitor.h), reads the ring buffer and prints one line
 * per event on stdout until it is told to stop.
 *
 *   pw-monitor --pin-dir DIR [--types MASK] [--sample N] [--rate N] [--lease-ms MS]
 *   pw-monitor --pin-dir DIR --positions
 *       prints {"consumer":C,"producer":P} (the ring buffer's positions, bytes ever consumed and
 *       produced) and exits, touching neither the gate nor the lock: tests check with it that a
 *       closed gate means no ring-buffer work at all.
 *
 * Contract:
 *  - Gate: writes PINDIR/maps/monitor_cfg[0] = {lease_ns = now + lease, types, sample, rate} and
 *    renews the lease every lease/4 (CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns). On SIGTERM,
 *    SIGINT, SIGHUP, SIGPIPE, EOF/hang-up on stdin when stdin is a pipe or socket (its parent is gone) or a failed write it writes
 *    lease 0 (gate closed) and exits 0. When it is SIGKILLed the lease runs out and the datapath
 *    closes the gate itself (lib/monitor.h). PR_SET_PDEATHSIG turns the parent's death into SIGTERM.
 *  - One listener per pin dir: the ring buffer has one consumer position, so two readers would
 *    steal each other's events. An exclusive flock on /run/podwire/monitor<pin dir, / as _>.lock is
 *    held while running (and the file removed on a clean exit); a second listener exits 4 with a
 *    message naming the lock.
 *  - Output: first `ready` once the gate is open, then per event a line
 *      e TIME_NS IFINDEX LEN REASON SADDR DADDR SPORT DPORT PROTO TYPE DIR ACTION POLICY_ID RULE PDIR CPU
 *    (decimal; addresses and ports as uint32/uint16 in host order). stdout is flushed after each
 *    drained batch. Exit 1 = the kernel refused, 2 = usage, 4 = another listener holds the lock.
 * Only libc and kernel UAPI headers (like pw-tcx): the ring buffer protocol (consumer page,
 * producer page + data mapped twice, 8-byte record headers with BUSY/DISCARD bits) is read directly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_BUSY 4

/* Same layouts as lib/monitor.h (checked there by _Static_assert and here by these). */
struct pw_monitor_cfg {
	uint64_t lease_ns;
	uint32_t types;
	uint32_t sample;
	uint32_t rate;
	uint32_t pad;
};
_Static_assert(sizeof(struct pw_monitor_cfg) == 24, "pw_monitor_cfg layout");

struct pw_monitor_event {
	uint64_t time_ns;
	uint32_t ifindex;
	uint32_t len;
	uint32_t reason;
	uint32_t saddr;
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint8_t protocol;
	uint8_t type;
	uint8_t direction;
	uint8_t action;
	uint32_t policy_id;
	uint16_t policy_rule;
	uint8_t policy_dir;
	uint8_t pad;
	uint32_t cpu;
};
_Static_assert(sizeof(struct pw_monitor_event) == 48, "pw_monitor_event layout");

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pw-monitor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int obj_get(const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)path;
	return (int)sys_bpf(BPF_OBJ_GET, &a);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int set_cfg(int fd, const struct pw_monitor_cfg *cfg)
{
	union bpf_attr a;
	uint32_t key = 0;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)cfg;
	a.flags = BPF_ANY;
	return (int)sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static uint32_t parse_u32(const char *flag, const char *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 0);
	if (errno || *end || end == v || n > UINT32_MAX)
		die(EXIT_USAGE, "%s: not a number: %s", flag, v);
	return (uint32_t)n;
}

static void print_event(const struct pw_monitor_event *e)
{
	printf("e %llu %u %u %u %u %u %u %u %u %u %u %u %u %u %u %u\n", (unsigned long long)e->time_ns, e->ifindex, e->len,
	       e->reason, __builtin_bswap32(e->saddr), __builtin_bswap32(e->daddr), __builtin_bswap16(e->sport),
	       __builtin_bswap16(e->dport), e->protocol, e->type, e->direction, e->action, e->policy_id, e->policy_rule,
	       e->policy_dir, e->cpu);
}

int main(int argc, char **argv)
{
	const char *pin_dir = NULL;
	struct pw_monitor_cfg cfg = { .types = 1u << 1, .sample = 0, .rate = 10000 };
	uint64_t lease_ns = 2000000000ull;
	char path[4096], lock[4096];
	struct bpf_map_info info;
	union bpf_attr a;
	long page = sysconf(_SC_PAGESIZE);
	int cfg_fd, rb_fd, lock_fd, rc = 0;
	size_t i;

	int positions = 0;

	for (int k = 1; k < argc; k++) {
		const char *f = argv[k];

		if (!strcmp(f, "--positions")) {
			positions = 1;
			continue;
		}
		if (k + 1 >= argc)
			die(EXIT_USAGE, "%s needs a value", f);
		if (!strcmp(f, "--pin-dir"))
			pin_dir = argv[++k];
		else if (!strcmp(f, "--types"))
			cfg.types = parse_u32(f, argv[++k]);
		else if (!strcmp(f, "--sample"))
			cfg.sample = parse_u32(f, argv[++k]);
		else if (!strcmp(f, "--rate"))
			cfg.rate = parse_u32(f, argv[++k]);
		else if (!strcmp(f, "--lease-ms"))
			lease_ns = (uint64_t)parse_u32(f, argv[++k]) * 1000000ull;
		else
			die(EXIT_USAGE, "unknown flag %s (usage: pw-monitor --pin-dir DIR [--types MASK] [--sample N] [--rate N] [--lease-ms MS])", f);
	}
	if (!pin_dir)
		die(EXIT_USAGE, "--pin-dir is required");
	if (lease_ns < 100000000ull)
		die(EXIT_USAGE, "--lease-ms must be at least 100");

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);

	snprintf(path, sizeof(path), "%s/maps/monitor_cfg", pin_dir);
	cfg_fd = obj_get(path);
	if (cfg_fd < 0)
		die(EXIT_REFUSED, "open %s: %s (is the datapath loaded, from a build with the monitor?)", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/maps/monitor_events", pin_dir);
	rb_fd = obj_get(path);
	if (rb_fd < 0)
		die(EXIT_REFUSED, "open %s: %s (is the datapath loaded, from a build with the monitor?)", path, strerror(errno));

	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)rb_fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uint64_t)(uintptr_t)&info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0)
		die(EXIT_REFUSED, "map info %s: %s", path, strerror(errno));
	if (info.type != BPF_MAP_TYPE_RINGBUF)
		die(EXIT_REFUSED, "%s is not a ring buffer (type %u)", path, info.type);
	size_t size = info.max_entries;
	size_t mask = size - 1;

	/* consumer page: read-write; producer page + data twice (wrap-around reads are contiguous): read-only */
	volatile uint64_t *cons = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, rb_fd, 0);
	if (cons == MAP_FAILED)
		die(EXIT_REFUSED, "mmap consumer page: %s", strerror(errno));
	uint8_t *prod_page = mmap(NULL, (size_t)page + 2 * size, PROT_READ, MAP_SHARED, rb_fd, page);
	if (prod_page == MAP_FAILED)
		die(EXIT_REFUSED, "mmap producer pages: %s", strerror(errno));
	volatile uint64_t *prod = (volatile uint64_t *)prod_page;
	uint8_t *data = prod_page + page;

	if (positions) {
		printf("{\"consumer\":%llu,\"producer\":%llu}\n", (unsigned long long)__atomic_load_n(cons, __ATOMIC_ACQUIRE),
		       (unsigned long long)__atomic_load_n(prod, __ATOMIC_ACQUIRE));
		return 0;
	}

	/* one listener per pin dir */
	mkdir("/run/podwire", 0755);
	snprintf(lock, sizeof(lock), "/run/podwire/monitor%s.lock", pin_dir);
	for (i = strlen("/run/podwire/monitor"); lock[i]; i++)
		if (lock[i] == '/')
			lock[i] = '_';
	for (;;) {
		struct stat by_path, by_fd;

		lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lock_fd < 0)
			die(EXIT_REFUSED, "open %s: %s", lock, strerror(errno));
		if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
			die(EXIT_BUSY, "another monitor is reading %s (lock %s held): the ring buffer has one reader; stop it first",
			    pin_dir, lock);
		/* the holder before us unlinks the file on exit: make sure we locked the one at the path */
		if (stat(lock, &by_path) == 0 && fstat(lock_fd, &by_fd) == 0 && by_path.st_ino == by_fd.st_ino &&
		    by_path.st_dev == by_fd.st_dev)
			break;
		close(lock_fd);
	}

	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

	/* drop what a previous listener left unread: the stream starts now */
	__atomic_store_n(cons, __atomic_load_n(prod, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);

	uint64_t renew_every = lease_ns / 4, last_renew = mono_ns();
	cfg.lease_ns = last_renew + lease_ns;
	if (set_cfg(cfg_fd, &cfg) < 0)
		die(EXIT_REFUSED, "open the gate (update monitor_cfg): %s", strerror(errno));
	printf("ready\n");
	fflush(stdout);

	struct pollfd fds[2] = { { .fd = rb_fd, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
	struct stat st_in;
	/* only a pipe or socket from a parent: /dev/null or a file would read EOF at once */
	int watch_stdin = fstat(STDIN_FILENO, &st_in) == 0 && (S_ISFIFO(st_in.st_mode) || S_ISSOCK(st_in.st_mode));

	while (!stop) {
		int n = poll(fds, watch_stdin ? 2 : 1, (int)(renew_every / 1000000ull));

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "pw-monitor: poll: %s\n", strerror(errno));
			rc = EXIT_REFUSED;
			break;
		}
		if (watch_stdin && n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[256];
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r <= 0)
				break; /* the parent closed our stdin or died */
		}
		uint64_t c = __atomic_load_n(cons, __ATOMIC_ACQUIRE);
		uint64_t p = __atomic_load_n(prod, __ATOMIC_ACQUIRE);
		while (c < p) {
			uint32_t hdr = __atomic_load_n((uint32_t *)(data + (c & mask)), __ATOMIC_ACQUIRE);

			if (hdr & BPF_RINGBUF_BUSY_BIT)
				break; /* reserved, not yet submitted */
			uint32_t len = hdr & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			if (!(hdr & BPF_RINGBUF_DISCARD_BIT) && len >= sizeof(struct pw_monitor_event)) {
				struct pw_monitor_event e;

				memcpy(&e, data + ((c + BPF_RINGBUF_HDR_SZ) & mask), sizeof(e));
				print_event(&e);
			}
			c += (BPF_RINGBUF_HDR_SZ + len + 7) & ~7ull;
			__atomic_store_n(cons, c, __ATOMIC_RELEASE);
		}
		if (fflush(stdout) != 0 || ferror(stdout))
			break; /* the reader is gone */
		uint64_t now = mono_ns();
		if (now - last_renew >= renew_every) {
			cfg.lease_ns = now + lease_ns;
			if (set_cfg(cfg_fd, &cfg) < 0) {
				fprintf(stderr, "pw-monitor: renew the lease: %s\n", strerror(errno));
				rc = EXIT_REFUSED;
				break;
			}
			last_renew = now;
		}
	}
	cfg.lease_ns = 0;
	if (set_cfg(cfg_fd, &cfg) < 0)
		fprintf(stderr, "pw-monitor: close the gate: %s (it closes itself when the lease runs out)\n", strerror(errno));
	unlink(lock); /* still holding it: a listener waiting on the old file re-checks the path */
	return rc;
}
