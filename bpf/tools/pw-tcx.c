/* pw-tcx.c — host helper (not a BPF program): attach pinned tc programs with tcx links.
 *
 * Contract: one command per exec; on success a single JSON object on stdout and exit 0; on
 * failure a one-line message on stderr naming the step, the device/pin and the errno text, and a
 * non-zero exit: 1 = the kernel or the filesystem refused, 2 = bad usage, 3 = the link's device
 * is gone (the link is defunct; only `update` reports this, so a reload can drop the pin).
 *
 *   attach --prog PINNED_PROG --dev IFNAME|IFINDEX --dir ingress|egress --pin LINK_PIN
 *       BPF_LINK_CREATE (tcx) + BPF_OBJ_PIN. If LINK_PIN already holds a live tcx link on that
 *       device and direction, BPF_LINK_UPDATE it to PINNED_PROG instead (atomic, idempotent). A
 *       pin that is defunct or points elsewhere is detached and replaced. On ingress it then
 *       deletes podwire's legacy clsact filter (ingress pref 1 handle 1, kind bpf) if present.
 *   update --pin LINK_PIN (--prog PINNED_PROG | --prog-dir DIR)
 *       BPF_LINK_UPDATE; --prog-dir picks DIR/<name of the program the link runs now>.
 *   detach --pin LINK_PIN      BPF_LINK_DETACH if live, then unlink; missing pin = success.
 *   query --dev IFNAME|IFINDEX --dir ingress|egress
 *       BPF_PROG_QUERY: every program on the hook, in run order, with its link id.
 *   info --pin LINK_PIN        {link_id, prog_id, prog_name, ifindex, attach_type, dir, live}
 *
 * Device names resolve in the caller's network namespace (if_nametoindex). Only libc and
 * kernel UAPI headers: Debian 12's bpftool 7.1, tc 6.1 and libbpf 1.1 cannot create tcx links,
 * and Node cannot make syscalls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tcx.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_DEFUNCT 3

static const char *cmd_name = "pw-tcx";

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...);

static void vfail(int code, int err, const char *fmt, va_list ap)
{
	fprintf(stderr, "pw-tcx %s: ", cmd_name);
	vfprintf(stderr, fmt, ap);
	if (err)
		fprintf(stderr, ": %s (errno %d)", strerror(err), err);
	fputc('\n', stderr);
	exit(code);
}

/* Exit 1 with the current errno appended. */
static void fail(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vfail(EXIT_REFUSED, err, fmt, ap);
}

__attribute__((format(printf, 2, 3))) static void fail_code(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(code, 0, fmt, ap);
}

static int open_prog(const char *path)
{
	int fd = obj_get(path);
	if (fd < 0)
		fail("opening program pin %s", path);
	if (!fd_has_field(fd, "prog_type:"))
		fail_code(EXIT_USAGE, "%s is not a pinned BPF program", path);
	return fd;
}

/* Name of the program with this id ("" when it is gone). */
static void prog_name_by_id(uint32_t id, char name[BPF_OBJ_NAME_LEN])
{
	union pw_attr a;
	struct bpf_prog_info info;
	name[0] = '\0';
	memset(&a, 0, sizeof(a));
	a.attr.prog_id = id;
	int fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
	if (fd < 0)
		return;
	if (get_info(fd, &info, sizeof(info)) == 0) {
		memcpy(name, info.name, BPF_OBJ_NAME_LEN);
		name[BPF_OBJ_NAME_LEN - 1] = '\0';
	}
	close(fd);
}

/* Open a link pin: fd, or -1 with errno ENOENT when nothing is pinned there. */
static int open_link(const char *pin)
{
	int fd = obj_get(pin);
	if (fd < 0) {
		if (errno == ENOENT)
			return -1;
		fail("opening link pin %s", pin);
	}
	if (!fd_has_field(fd, "link_id:"))
		fail_code(EXIT_USAGE, "%s is not a pinned BPF link", pin);
	return fd;
}

static void link_info(int fd, struct pw_link_info *li, const char *pin)
{
	if (get_info(fd, li, sizeof(*li)) < 0)
		fail("reading link info of %s", pin);
	if (li->type != PW_LINK_TYPE_TCX)
		fail_code(EXIT_USAGE, "%s is a BPF link of type %u, not tcx (%u)", pin, li->type, PW_LINK_TYPE_TCX);
}

static const char *dir_name(uint32_t attach_type)
{
	return attach_type == PW_TCX_INGRESS ? "ingress" : attach_type == PW_TCX_EGRESS ? "egress" : "unknown";
}

static uint32_t parse_dir(const char *s)
{
	if (s && strcmp(s, "ingress") == 0)
		return PW_TCX_INGRESS;
	if (s && strcmp(s, "egress") == 0)
		return PW_TCX_EGRESS;
	fail_code(EXIT_USAGE, "--dir must be ingress or egress, got %s", s ? s : "nothing");
	return 0;
}

static uint32_t parse_dev(const char *s)
{
	if (!s)
		fail_code(EXIT_USAGE, "--dev IFNAME|IFINDEX is required");
	char *end;
	unsigned long n = strtoul(s, &end, 10);
	if (*s && *end == '\0' && n > 0 && n <= UINT32_MAX)
		return (uint32_t)n;
	unsigned idx = if_nametoindex(s);
	if (idx == 0)
		fail("device %s in this network namespace", s);
	return idx;
}

/* ---- legacy clsact filter (podwire before tcx): ingress pref 1 handle 1 bpf -------------- */

/* RTM_DELTFILTER for exactly that slot. Returns 1 when deleted, 0 when there was none (no
 * clsact qdisc, no filter at pref 1, or one of another kind: the kernel answers ENOENT/EINVAL
 * and touches nothing). The clsact qdisc itself stays: other tools may have filters on it. */
static int remove_legacy_filter(uint32_t ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
		char attrs[16];
	} req;
	char buf[1024];
	int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sk < 0)
		fail("opening a netlink socket to remove the legacy tc filter");
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_type = RTM_DELTFILTER;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.nh.nlmsg_seq = 1;
	req.tc.tcm_family = AF_UNSPEC;
	req.tc.tcm_ifindex = (int)ifindex;
	req.tc.tcm_handle = 1;
	req.tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
	req.tc.tcm_info = TC_H_MAKE(1u << 16, 0); /* pref 1, any protocol */
	struct rtattr *kind = (struct rtattr *)req.attrs;
	kind->rta_type = TCA_KIND;
	kind->rta_len = RTA_LENGTH(sizeof("bpf"));
	memcpy(RTA_DATA(kind), "bpf", sizeof("bpf"));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)) + RTA_ALIGN(kind->rta_len);
	if (send(sk, &req, req.nh.nlmsg_len, 0) < 0)
		fail("sending RTM_DELTFILTER for ifindex %u", ifindex);
	ssize_t n = recv(sk, buf, sizeof(buf), 0);
	if (n < 0)
		fail("reading the RTM_DELTFILTER answer for ifindex %u", ifindex);
	close(sk);
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (!NLMSG_OK(h, (unsigned)n) || h->nlmsg_type != NLMSG_ERROR)
		fail_code(EXIT_REFUSED, "unexpected netlink answer to RTM_DELTFILTER for ifindex %u", ifindex);
	int err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
	if (err == 0)
		return 1;
	if (err == ENOENT || err == EINVAL)
		return 0;
	errno = err;
	fail("removing the legacy tc filter (ingress pref 1 handle 1) on ifindex %u", ifindex);
	return 0;
}

/* ---- commands ----------------------------------------------------------------------------- */

struct args {
	const char *prog, *prog_dir, *dev, *dir, *pin;
};

static void print_link(const char *action, const struct pw_link_info *li, int legacy_removed)
{
	char name[BPF_OBJ_NAME_LEN];
	prog_name_by_id(li->prog_id, name);
	printf("{\"action\":\"%s\",\"link_id\":%u,\"prog_id\":%u,\"prog_name\":\"%s\",\"ifindex\":%u,\"dir\":\"%s\"", action, li->id,
	       li->prog_id, name, li->ifindex, dir_name(li->attach_type));
	if (legacy_removed >= 0)
		printf(",\"legacy_tc_filter_removed\":%s", legacy_removed ? "true" : "false");
	printf("}\n");
}

static void link_update(int link_fd, int prog_fd, const char *pin)
{
	if (tcx_link_update(link_fd, prog_fd) < 0) {
		/* tcx answers ENOLINK once its device is gone */
		if (errno == ENOLINK)
			fail_code(EXIT_DEFUNCT, "%s: the link's device is gone (defunct link); remove the pin", pin);
		fail("BPF_LINK_UPDATE of %s", pin);
	}
}

static void link_detach(int link_fd, const char *pin)
{
	if (tcx_link_detach(link_fd) < 0)
		fail("BPF_LINK_DETACH of %s", pin);
}

static int cmd_attach(const struct args *o)
{
	if (!o->prog || !o->pin)
		fail_code(EXIT_USAGE, "usage: attach --prog PINNED_PROG --dev IFNAME|IFINDEX --dir ingress|egress --pin LINK_PIN");
	uint32_t type = parse_dir(o->dir);
	uint32_t ifindex = parse_dev(o->dev);
	int prog_fd = open_prog(o->prog);
	struct pw_link_info li;
	const char *action = "created";

	int link_fd = open_link(o->pin);
	if (link_fd >= 0) {
		link_info(link_fd, &li, o->pin);
		if (li.ifindex == ifindex && li.attach_type == type) {
			link_update(link_fd, prog_fd, o->pin);
			link_info(link_fd, &li, o->pin);
			print_link("updated", &li, -1);
			return 0;
		}
		/* Defunct (device deleted: ifindex 0) or on another device/direction (the name now
		 * belongs to a different device): that attachment is no longer the one this pin names. */
		if (li.ifindex != 0)
			link_detach(link_fd, o->pin);
		close(link_fd);
		if (unlink(o->pin) < 0 && errno != ENOENT)
			fail("removing the stale link pin %s", o->pin);
		action = "replaced";
	}

	link_fd = tcx_link_create(prog_fd, ifindex, type);
	if (link_fd < 0)
		fail("BPF_LINK_CREATE tcx %s on %s (ifindex %u) with %s", dir_name(type), o->dev, ifindex, o->prog);
	/* Until pinned, the link lives only in this fd: exiting on failure detaches it again. */
	if (obj_pin(link_fd, o->pin) < 0)
		fail("pinning the link at %s", o->pin);
	link_info(link_fd, &li, o->pin);
	int legacy = type == PW_TCX_INGRESS ? remove_legacy_filter(ifindex) : 0;
	print_link(action, &li, legacy);
	return 0;
}

static int cmd_update(const struct args *o)
{
	if (!o->pin || (!o->prog == !o->prog_dir))
		fail_code(EXIT_USAGE, "usage: update --pin LINK_PIN (--prog PINNED_PROG | --prog-dir DIR)");
	int link_fd = open_link(o->pin);
	if (link_fd < 0)
		fail("opening link pin %s", o->pin);
	struct pw_link_info li;
	link_info(link_fd, &li, o->pin);
	if (li.ifindex == 0)
		fail_code(EXIT_DEFUNCT, "%s: the link's device is gone (defunct link); remove the pin", o->pin);
	char path[4096];
	const char *prog = o->prog;
	if (!prog) {
		char name[BPF_OBJ_NAME_LEN];
		prog_name_by_id(li.prog_id, name);
		if (!name[0])
			fail_code(EXIT_REFUSED, "%s runs program id %u, whose name cannot be read", o->pin, li.prog_id);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", o->prog_dir, name) >= sizeof(path))
			fail_code(EXIT_USAGE, "--prog-dir is too long");
		prog = path;
	}
	int prog_fd = open_prog(prog);
	uint32_t old = li.prog_id;
	link_update(link_fd, prog_fd, o->pin);
	link_info(link_fd, &li, o->pin);
	char name[BPF_OBJ_NAME_LEN];
	prog_name_by_id(li.prog_id, name);
	printf("{\"action\":\"updated\",\"link_id\":%u,\"prog_id\":%u,\"old_prog_id\":%u,\"prog_name\":\"%s\",\"ifindex\":%u,\"dir\":\"%s\"}\n",
	       li.id, li.prog_id, old, name, li.ifindex, dir_name(li.attach_type));
	return 0;
}

static int cmd_detach(const struct args *o)
{
	if (!o->pin)
		fail_code(EXIT_USAGE, "usage: detach --pin LINK_PIN");
	int link_fd = open_link(o->pin);
	if (link_fd < 0) {
		printf("{\"action\":\"none\",\"pin\":\"missing\"}\n");
		return 0;
	}
	struct pw_link_info li;
	link_info(link_fd, &li, o->pin);
	int was_live = li.ifindex != 0;
	if (was_live)
		link_detach(link_fd, o->pin);
	close(link_fd);
	if (unlink(o->pin) < 0 && errno != ENOENT)
		fail("removing link pin %s", o->pin);
	printf("{\"action\":\"detached\",\"link_id\":%u,\"ifindex\":%u,\"was_live\":%s}\n", li.id, li.ifindex, was_live ? "true" : "false");
	return 0;
}

static int cmd_query(const struct args *o)
{
	uint32_t type = parse_dir(o->dir);
	uint32_t ifindex = parse_dev(o->dev);
	enum { MAX = 64 };
	uint32_t progs[MAX], links[MAX];
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	a.query.target_ifindex = ifindex;
	a.query.attach_type = type;
	a.query.prog_ids = (uint64_t)(uintptr_t)progs;
	a.query.link_ids = (uint64_t)(uintptr_t)links;
	a.query.count = MAX;
	if (sys_bpf(BPF_PROG_QUERY, &a) < 0)
		fail("BPF_PROG_QUERY tcx %s on %s (ifindex %u)", dir_name(type), o->dev, ifindex);
	uint32_t n = a.query.count < MAX ? a.query.count : MAX;
	printf("{\"ifindex\":%u,\"dir\":\"%s\",\"revision\":%llu,\"progs\":[", ifindex, dir_name(type), (unsigned long long)a.query.revision);
	for (uint32_t i = 0; i < n; i++) {
		char name[BPF_OBJ_NAME_LEN];
		prog_name_by_id(progs[i], name);
		printf("%s{\"prog_id\":%u,\"link_id\":%u,\"prog_name\":\"%s\"}", i ? "," : "", progs[i], links[i], name);
	}
	printf("]}\n");
	return 0;
}

static int cmd_info(const struct args *o)
{
	if (!o->pin)
		fail_code(EXIT_USAGE, "usage: info --pin LINK_PIN");
	int link_fd = open_link(o->pin);
	if (link_fd < 0)
		fail("opening link pin %s", o->pin);
	struct pw_link_info li;
	link_info(link_fd, &li, o->pin);
	char name[BPF_OBJ_NAME_LEN];
	prog_name_by_id(li.prog_id, name);
	printf("{\"link_id\":%u,\"prog_id\":%u,\"prog_name\":\"%s\",\"ifindex\":%u,\"attach_type\":%u,\"dir\":\"%s\",\"live\":%s}\n", li.id,
	       li.prog_id, name, li.ifindex, li.attach_type, dir_name(li.attach_type), li.ifindex ? "true" : "false");
	return 0;
}

int main(int argc, char **argv)
{
	struct args o = { 0 };
	if (argc < 2)
		fail_code(EXIT_USAGE, "usage: pw-tcx attach|update|detach|query|info [--prog P] [--prog-dir D] [--dev DEV] [--dir ingress|egress] [--pin L]");
	cmd_name = argv[1];
	for (int i = 2; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--prog") == 0       ? &o.prog
				    : strcmp(argv[i], "--prog-dir") == 0 ? &o.prog_dir
				    : strcmp(argv[i], "--dev") == 0      ? &o.dev
				    : strcmp(argv[i], "--dir") == 0      ? &o.dir
				    : strcmp(argv[i], "--pin") == 0      ? &o.pin
									 : NULL;
		if (!slot)
			fail_code(EXIT_USAGE, "unknown argument %s", argv[i]);
		if (i + 1 >= argc)
			fail_code(EXIT_USAGE, "%s needs a value", argv[i]);
		*slot = argv[++i];
	}
	if (strcmp(cmd_name, "attach") == 0)
		return cmd_attach(&o);
	if (strcmp(cmd_name, "update") == 0)
		return cmd_update(&o);
	if (strcmp(cmd_name, "detach") == 0)
		return cmd_detach(&o);
	if (strcmp(cmd_name, "query") == 0)
		return cmd_query(&o);
	if (strcmp(cmd_name, "info") == 0)
		return cmd_info(&o);
	fail_code(EXIT_USAGE, "unknown command %s (attach, update, detach, query, info)", cmd_name);
	return EXIT_USAGE;
}
