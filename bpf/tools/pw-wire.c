/* pw-wire.c — host helper (not a BPF program): the CNI ADD/DEL wiring steps without an exec per
 * step. ONE long-lived process per agent (src/wire/client.ts starts it, restarts it when it dies)
 * serving framed requests on stdin and answering on stdout, one request at a time, in order.
 *
 * Frames (little-endian u32s; strings and byte strings are length-prefixed fields, never parsed
 * as commands or lines: a runtime's ifname or netns path reaches the kernel as the bytes it sent):
 *   request:  u32 len | u32 id | u32 op | u32 nfields | nfields × (u32 flen | flen bytes)
 *   response: u32 len | u32 id | u32 err (errno, 0 = ok) | u32 step | u32 value | message bytes
 * `len` counts the bytes after itself. `step` says which step of the op failed (or 0), `value`
 * carries the op's number (the host veth's ifindex, the tcx link id).
 *
 * Ops (fields in order):
 *   1 VETH_ADD   host, host MAC[6], mtu u32, pod ifname, pod MAC[6], netns path
 *                RTM_NEWLINK veth with the peer created inside the netns under its final name
 *                (step 1: all or nothing), host end up in the same request. value = host ifindex.
 *   2 POD_CONFIG netns path, pod ifname, pod IPv4[4], gateway IPv4[4], host MAC[6]
 *                setns into the pod netns, then: address /32 (step 1), IPv6 off if present
 *                (step 6), link up (2), gateway route scope link (3), default via the gateway (4),
 *                permanent neighbour gateway → host MAC (5); setns back (a failure to get back
 *                is fatal: the process exits and the client restarts it).
 *   3 TCX_ATTACH prog pin, device name (this netns), dir u32 (0 ingress, 1 egress), link pin
 *                BPF_LINK_CREATE (tcx) + BPF_OBJ_PIN; a pin already there is re-pointed when it
 *                is the same device and hook, else detached and replaced (pw-tcx attach).
 *                value = link id.
 *   4 MAP_UPDATE map pin, key, value    BPF_MAP_UPDATE_ELEM (BPF_ANY); sizes must match the map.
 *   5 MAP_DELETE map pin, key           a missing pin or key is err ENOENT (the caller's success).
 *   6 LINK_DEL   name                   RTM_DELLINK by name; a missing link is err ENODEV.
 *   7 ROUTE      host, pod IPv4[4]      the pod's /32 route to the host veth (scope link, replace).
 *   8 POOL_MAKE  host, peer, mtu u32    a warm-pool pair, both ends in this netns and down (the
 *                agent attaches the tcx links with two TCX_ATTACHes). value = host ifindex.
 *   9 POOL_TAKE  pool host, host, host MAC[6], mtu u32, pool peer, pod ifname, pod MAC[6], netns
 *                step 1: the peer gets the pod MAC and MTU and moves into the netns under the
 *                pod ifname (one RTM_NEWLINK: IFLA_NET_NS_FD + IFLA_IFNAME); step 2: the host end
 *                is renamed, gets its MAC and MTU and comes up (one RTM_NEWLINK; a rename needs
 *                the device down, and do_setlink renames before it changes flags).
 *                value = host ifindex. Its tcx links stay attached (they follow the ifindex).
 *   10 POOL_PUT  netns, pod ifname, pool peer, host, pool host
 *                step 1: host end down; step 2: in the netns, the pod end moves back to this
 *                netns under the pool peer name (its addresses, routes and neighbours go with the
 *                old netns); step 3: host end renamed to the pool host name.
 *
 * Test-only fault (from this process's environment, which the agent's, never a request, sets):
 * PODWIRE_WIRE_FAULT=crash:<op>:<file> or hang:<op>:<file> — when <file> exists, remove it and
 * die (SIGKILL) or stop answering after doing op <op>'s work, once.
 *
 * Only libc and kernel UAPI headers, like pw-tcx.c; the tcx ABI and bpf(2) calls are tcx.h's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tcx.h"

enum { OP_VETH_ADD = 1, OP_POD_CONFIG, OP_TCX_ATTACH, OP_MAP_UPDATE, OP_MAP_DELETE, OP_LINK_DEL, OP_ROUTE, OP_POOL_MAKE, OP_POOL_TAKE, OP_POOL_PUT, OP_MAX };
static const char *const op_names[OP_MAX] = { "", "veth", "pod", "attach", "map-update", "map-delete", "link-del", "route", "pool-make", "pool-take", "pool-put" };

#define MAX_FRAME (64 * 1024)
#define MAX_FIELDS 8

struct field {
	const uint8_t *p;
	uint32_t len;
};

/* The answer being built for the current request. */
struct reply {
	uint32_t err, step, value;
	char msg[512];
};

static int home_ns = -1; /* this process's own network namespace, to return to */
static int host_nl = -1; /* rtnetlink socket in home_ns */
static uint32_t nl_seq;

__attribute__((format(printf, 4, 5))) static int failf(struct reply *r, int err, uint32_t step, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	if (err && n >= 0 && (size_t)n < sizeof(r->msg))
		snprintf(r->msg + n, sizeof(r->msg) - (size_t)n, ": %s", strerror(err));
	r->err = err ? (uint32_t)err : EINVAL;
	r->step = step;
	return -1;
}

/* ---- field helpers ------------------------------------------------------------------------ */

/* A NUL-terminated copy of a string field (no embedded NUL allowed). */
static int field_str(const struct field *f, char *out, size_t cap)
{
	if (f->len == 0 || f->len >= cap || memchr(f->p, 0, f->len))
		return -1;
	memcpy(out, f->p, f->len);
	out[f->len] = '\0';
	return 0;
}

/* Interface names as the kernel accepts them (dev_valid_name); also safe in a /proc path. */
static int valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] == ' ' || (unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

static uint32_t u32_at(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* ---- rtnetlink ---------------------------------------------------------------------------- */

struct nlreq {
	struct nlmsghdr *h;
	size_t cap;
};

static void *nl_tail(struct nlreq *q)
{
	return (char *)q->h + NLMSG_ALIGN(q->h->nlmsg_len);
}

static struct rtattr *nl_attr(struct nlreq *q, uint16_t type, const void *data, size_t len)
{
	size_t need = NLMSG_ALIGN(q->h->nlmsg_len) + RTA_SPACE(len);
	if (need > q->cap)
		return NULL;
	struct rtattr *a = nl_tail(q);
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	q->h->nlmsg_len = (uint32_t)need;
	return a;
}

static struct rtattr *nl_nest(struct nlreq *q, uint16_t type)
{
	return nl_attr(q, type, NULL, 0);
}

static void nl_nest_end(struct nlreq *q, struct rtattr *a)
{
	a->rta_len = (unsigned short)((char *)nl_tail(q) - (char *)a);
}

static int nl_open(void)
{
	int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sk < 0)
		return -1;
	int one = 1;
	/* extended acks: the kernel's own words for a refusal */
	setsockopt(sk, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	return sk;
}

/* Send one request with NLM_F_ACK and wait for its ack; 0 or the errno the kernel answered. */
static int nl_talk(int sk, struct nlmsghdr *h)
{
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++nl_seq;
	if (send(sk, h, h->nlmsg_len, 0) < 0)
		return errno;
	char buf[8192];
	for (;;) {
		ssize_t n = recv(sk, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (unsigned)n); m = NLMSG_NEXT(m, n)) {
			if (m->nlmsg_seq != h->nlmsg_seq)
				continue; /* a stale answer of an earlier request */
			if (m->nlmsg_type == NLMSG_ERROR)
				return -((struct nlmsgerr *)NLMSG_DATA(m))->error;
		}
	}
}

#define NLBUF(name, hdr_type)                                                                                          \
	union {                                                                                                        \
		struct nlmsghdr h;                                                                                     \
		char b[1024];                                                                                          \
	} name##_buf;                                                                                                  \
	memset(&name##_buf, 0, sizeof(name##_buf));                                                                    \
	struct nlreq name = { &name##_buf.h, sizeof(name##_buf) };                                                     \
	name.h->nlmsg_len = NLMSG_LENGTH(sizeof(hdr_type))

static int route_add(int sk, uint32_t dst, uint8_t dst_len, uint32_t gw, uint32_t oif, uint8_t scope)
{
	NLBUF(q, struct rtmsg);
	q.h->nlmsg_type = RTM_NEWROUTE;
	q.h->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	struct rtmsg *rt = NLMSG_DATA(q.h);
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = dst_len;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = scope;
	rt->rtm_type = RTN_UNICAST;
	if (dst_len)
		nl_attr(&q, RTA_DST, &dst, 4);
	if (gw)
		nl_attr(&q, RTA_GATEWAY, &gw, 4);
	nl_attr(&q, RTA_OIF, &oif, 4);
	return nl_talk(sk, q.h);
}

static int link_set_up(int sk, uint32_t ifindex)
{
	NLBUF(q, struct ifinfomsg);
	q.h->nlmsg_type = RTM_NEWLINK;
	struct ifinfomsg *ifi = NLMSG_DATA(q.h);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_talk(sk, q.h);
}

/* The op's value: the ifindex of `name`, which the op just made or renamed (step `step` fails if gone). */
static int reply_ifindex(struct reply *r, const char *name, uint32_t step)
{
	unsigned idx = if_nametoindex(name);
	if (idx == 0)
		return failf(r, errno, step, "%s vanished right after the op made or renamed it", name);
	r->value = idx;
	return 0;
}

/* ---- ops ---------------------------------------------------------------------------------- */

static int op_veth_add(const struct field *f, uint32_t nf, struct reply *r)
{
	char host[IFNAMSIZ], pod[IFNAMSIZ], netns[4096];
	if (nf != 6 || field_str(&f[0], host, sizeof(host)) || f[1].len != 6 || f[2].len != 4 || field_str(&f[3], pod, sizeof(pod)) ||
	    f[4].len != 6 || field_str(&f[5], netns, sizeof(netns)))
		return failf(r, EINVAL, 1, "veth: malformed request");
	if (!valid_ifname(host) || !valid_ifname(pod))
		return failf(r, EINVAL, 1, "veth: invalid interface name");
	uint32_t mtu = u32_at(f[2].p);
	int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return failf(r, errno, 1, "veth: opening netns %s", netns);

	NLBUF(q, struct ifinfomsg);
	q.h->nlmsg_type = RTM_NEWLINK;
	q.h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct ifinfomsg *ifi = NLMSG_DATA(q.h);
	ifi->ifi_family = AF_UNSPEC;
	/* host end up at creation: one request instead of a second RTM_NEWLINK */
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	nl_attr(&q, IFLA_IFNAME, host, strlen(host) + 1);
	nl_attr(&q, IFLA_ADDRESS, f[1].p, 6);
	nl_attr(&q, IFLA_MTU, &mtu, 4);
	struct rtattr *li = nl_nest(&q, IFLA_LINKINFO);
	nl_attr(&q, IFLA_INFO_KIND, "veth", 4);
	struct rtattr *data = nl_nest(&q, IFLA_INFO_DATA);
	struct rtattr *peer = nl_nest(&q, VETH_INFO_PEER);
	/* the peer's header: down (the pod side turns IPv6 off before it comes up) */
	struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC };
	if (NLMSG_ALIGN(q.h->nlmsg_len) + sizeof(pifi) > q.cap) {
		close(nsfd);
		return failf(r, EINVAL, 1, "veth: request too large");
	}
	memcpy(nl_tail(&q), &pifi, sizeof(pifi));
	q.h->nlmsg_len = NLMSG_ALIGN(q.h->nlmsg_len) + (uint32_t)sizeof(pifi);
	nl_attr(&q, IFLA_IFNAME, pod, strlen(pod) + 1);
	nl_attr(&q, IFLA_ADDRESS, f[4].p, 6);
	nl_attr(&q, IFLA_MTU, &mtu, 4);
	uint32_t fd32 = (uint32_t)nsfd;
	if (!nl_attr(&q, IFLA_NET_NS_FD, &fd32, 4)) {
		close(nsfd);
		return failf(r, EINVAL, 1, "veth: request too large");
	}
	nl_nest_end(&q, peer);
	nl_nest_end(&q, data);
	nl_nest_end(&q, li);
	int err = nl_talk(host_nl, q.h);
	close(nsfd);
	if (err)
		return failf(r, err, 1, "creating veth %s <-> %s in %s", host, pod, netns);
	return reply_ifindex(r, host, 2);
}

static int op_route(const struct field *f, uint32_t nf, struct reply *r)
{
	char host[IFNAMSIZ];
	if (nf != 2 || field_str(&f[0], host, sizeof(host)) || !valid_ifname(host) || f[1].len != 4)
		return failf(r, EINVAL, 1, "route: malformed request");
	unsigned idx = if_nametoindex(host);
	if (idx == 0)
		return failf(r, errno, 1, "no device %s for the pod route", host);
	int err = route_add(host_nl, u32_at(f[1].p), 32, 0, idx, RT_SCOPE_LINK);
	if (err)
		return failf(r, err, 1, "routing the pod address to %s", host);
	return 0;
}

/* The pod-side steps, run with this process inside the pod's netns. */
static int pod_steps(const char *pod, uint32_t ip, uint32_t gw, const uint8_t *hmac, struct reply *r)
{
	unsigned idx = if_nametoindex(pod);
	if (idx == 0)
		return failf(r, errno, 1, "no interface %s in the pod netns", pod);
	int sk = nl_open();
	if (sk < 0)
		return failf(r, errno, 1, "opening a netlink socket in the pod netns");
	int rc = -1, err;

	NLBUF(a, struct ifaddrmsg);
	a.h->nlmsg_type = RTM_NEWADDR;
	a.h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct ifaddrmsg *ifa = NLMSG_DATA(a.h);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 32;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = idx;
	nl_attr(&a, IFA_LOCAL, &ip, 4);
	nl_attr(&a, IFA_ADDRESS, &ip, 4);
	if ((err = nl_talk(sk, a.h))) {
		failf(r, err, 1, "adding the pod address to %s", pod);
		goto out;
	}
	/* IPv6 off before the interface comes up (no link-local address, DAD or router
	 * solicitation); absent when the kernel has no IPv6 or the MTU is below 1280. */
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", pod);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t w = write(fd, "1", 1);
		int werr = errno;
		close(fd);
		if (w != 1) {
			failf(r, werr, 6, "turning IPv6 off on %s", pod);
			goto out;
		}
	} else if (errno != ENOENT) {
		failf(r, errno, 6, "opening %s", path);
		goto out;
	}
	if ((err = link_set_up(sk, idx))) {
		failf(r, err, 2, "bringing %s up", pod);
		goto out;
	}
	if ((err = route_add(sk, gw, 32, 0, idx, RT_SCOPE_LINK))) {
		failf(r, err, 3, "routing the gateway to %s", pod);
		goto out;
	}
	if ((err = route_add(sk, 0, 0, gw, idx, RT_SCOPE_UNIVERSE))) {
		failf(r, err, 4, "the default route via the gateway on %s", pod);
		goto out;
	}
	NLBUF(n, struct ndmsg);
	n.h->nlmsg_type = RTM_NEWNEIGH;
	n.h->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	struct ndmsg *nd = NLMSG_DATA(n.h);
	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = (int)idx;
	nd->ndm_state = NUD_PERMANENT;
	nl_attr(&n, NDA_DST, &gw, 4);
	nl_attr(&n, NDA_LLADDR, hmac, 6);
	if ((err = nl_talk(sk, n.h))) {
		failf(r, err, 5, "the gateway's neighbour entry on %s", pod);
		goto out;
	}
	rc = 0;
out:
	close(sk);
	return rc;
}

static int op_pod_config(const struct field *f, uint32_t nf, struct reply *r)
{
	char netns[4096], pod[IFNAMSIZ];
	if (nf != 5 || field_str(&f[0], netns, sizeof(netns)) || field_str(&f[1], pod, sizeof(pod)) || f[2].len != 4 || f[3].len != 4 ||
	    f[4].len != 6)
		return failf(r, EINVAL, 1, "pod: malformed request");
	if (!valid_ifname(pod))
		return failf(r, EINVAL, 1, "pod: invalid interface name");
	int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return failf(r, errno, 1, "opening netns %s", netns);
	/* single-threaded process: setns moves all of it, and it serves one request at a time */
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(nsfd);
		return failf(r, e, 1, "entering netns %s", netns);
	}
	close(nsfd);
	int rc = pod_steps(pod, u32_at(f[2].p), u32_at(f[3].p), f[4].p, r);
	if (setns(home_ns, CLONE_NEWNET) < 0) {
		/* Never serve another request from the wrong namespace: die, the client restarts us
		 * and fails this request. */
		fprintf(stderr, "pw-wire: cannot return to the agent's netns: %s\n", strerror(errno));
		_exit(70);
	}
	return rc;
}

static int op_tcx_attach(const struct field *f, uint32_t nf, struct reply *r)
{
	char prog[4096], dev[IFNAMSIZ], pin[4096];
	if (nf != 4 || field_str(&f[0], prog, sizeof(prog)) || field_str(&f[1], dev, sizeof(dev)) || f[2].len != 4 ||
	    field_str(&f[3], pin, sizeof(pin)))
		return failf(r, EINVAL, 1, "attach: malformed request");
	uint32_t type = u32_at(f[2].p) == 0 ? PW_TCX_INGRESS : PW_TCX_EGRESS;
	const char *dir = type == PW_TCX_INGRESS ? "ingress" : "egress";
	unsigned ifindex = if_nametoindex(dev);
	if (ifindex == 0)
		return failf(r, errno, 1, "device %s in this network namespace", dev);
	int prog_fd = obj_get(prog);
	if (prog_fd < 0)
		return failf(r, errno, 1, "opening program pin %s", prog);
	int rc = -1, link_fd = -1;
	struct pw_link_info li;
	if (!fd_has_field(prog_fd, "prog_type:")) {
		failf(r, EINVAL, 1, "%s is not a pinned BPF program", prog);
		goto out;
	}
	link_fd = obj_get(pin);
	if (link_fd >= 0) {
		/* A pin left behind (an interrupted ADD, a reused name): same device and hook →
		 * re-point it; otherwise it names an attachment that is gone: drop it. */
		if (!fd_has_field(link_fd, "link_id:") || get_info(link_fd, &li, sizeof(li)) < 0 || li.type != PW_LINK_TYPE_TCX) {
			failf(r, EEXIST, 2, "%s exists and is not a tcx link", pin);
			goto out;
		}
		if (li.ifindex == ifindex && li.attach_type == type) {
			if (tcx_link_update(link_fd, prog_fd) < 0) {
				failf(r, errno, 2, "BPF_LINK_UPDATE of %s", pin);
				goto out;
			}
			r->value = li.id;
			rc = 0;
			goto out;
		}
		if (li.ifindex != 0) {
			if (tcx_link_detach(link_fd) < 0) {
				failf(r, errno, 2, "BPF_LINK_DETACH of the stale %s", pin);
				goto out;
			}
		}
		close(link_fd);
		link_fd = -1;
		if (unlink(pin) < 0 && errno != ENOENT) {
			failf(r, errno, 2, "removing the stale link pin %s", pin);
			goto out;
		}
	} else if (errno != ENOENT) {
		failf(r, errno, 2, "opening link pin %s", pin);
		goto out;
	}
	link_fd = tcx_link_create(prog_fd, ifindex, type);
	if (link_fd < 0) {
		failf(r, errno, 3, "BPF_LINK_CREATE tcx %s on %s (ifindex %u) with %s", dir, dev, ifindex, prog);
		goto out;
	}
	/* Until pinned the link lives only in link_fd: closing it below detaches it again. */
	if (obj_pin(link_fd, pin) < 0) {
		failf(r, errno, 4, "pinning the link at %s", pin);
		goto out;
	}
	if (get_info(link_fd, &li, sizeof(li)) == 0)
		r->value = li.id;
	rc = 0;
out:
	if (link_fd >= 0)
		close(link_fd);
	close(prog_fd);
	return rc;
}

/* Open a pinned map and check the sizes the caller's bytes have. */
static int open_map(const char *pin, uint32_t key_len, int64_t value_len, struct reply *r, const char *what)
{
	int fd = obj_get(pin);
	if (fd < 0)
		return failf(r, errno, 1, "%s: opening map pin %s", what, pin);
	struct bpf_map_info info;
	if (!fd_has_field(fd, "map_type:") || get_info(fd, &info, sizeof(info)) < 0) {
		close(fd);
		return failf(r, EINVAL, 1, "%s: %s is not a pinned BPF map", what, pin);
	}
	if (info.key_size != key_len || (value_len >= 0 && info.value_size != (uint32_t)value_len)) {
		close(fd);
		return failf(r, EINVAL, 1, "%s: %s has key/value sizes %u/%u, the entry has %u/%lld (a map of another layout)", what, pin,
			     info.key_size, info.value_size, key_len, (long long)value_len);
	}
	return fd;
}

static int op_map(int op, const struct field *f, uint32_t nf, struct reply *r)
{
	char pin[4096];
	int update = op == OP_MAP_UPDATE;
	if (nf != (update ? 3u : 2u) || field_str(&f[0], pin, sizeof(pin)) || f[1].len == 0)
		return failf(r, EINVAL, 1, "map: malformed request");
	/* the kernel copies key_size/value_size bytes: the buffers must be that long (checked above) */
	int fd = open_map(pin, f[1].len, update ? (int64_t)f[2].len : -1, r, update ? "update" : "delete");
	if (fd < 0)
		return -1;
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	a.attr.map_fd = (uint32_t)fd;
	a.attr.key = (uint64_t)(uintptr_t)f[1].p;
	if (update) {
		a.attr.value = (uint64_t)(uintptr_t)f[2].p;
		a.attr.flags = BPF_ANY;
	}
	long rc = sys_bpf(update ? BPF_MAP_UPDATE_ELEM : BPF_MAP_DELETE_ELEM, &a);
	int e = errno;
	close(fd);
	if (rc < 0)
		return failf(r, e, 2, "%s of an entry in %s", update ? "BPF_MAP_UPDATE_ELEM" : "BPF_MAP_DELETE_ELEM", pin);
	return 0;
}

static int op_link_del(const struct field *f, uint32_t nf, struct reply *r)
{
	char name[IFNAMSIZ];
	if (nf != 1 || field_str(&f[0], name, sizeof(name)) || !valid_ifname(name))
		return failf(r, EINVAL, 1, "link-del: malformed request");
	NLBUF(q, struct ifinfomsg);
	q.h->nlmsg_type = RTM_DELLINK;
	struct ifinfomsg *ifi = NLMSG_DATA(q.h);
	ifi->ifi_family = AF_UNSPEC;
	nl_attr(&q, IFLA_IFNAME, name, strlen(name) + 1);
	int err = nl_talk(host_nl, q.h);
	if (err)
		return failf(r, err, 1, "deleting %s", name);
	return 0;
}

/* ---- warm pool ---------------------------------------------------------------------------- */

/* One RTM_NEWLINK on an existing device (by name): any of new name, MAC, MTU, netns fd (-1: none),
 * and IFF_UP set (up = 1), cleared (up = 0) or left alone (up = -1). */
static int link_change(int sk, const char *name, const char *newname, const uint8_t *mac, uint32_t mtu, int nsfd, int up)
{
	NLBUF(q, struct ifinfomsg);
	q.h->nlmsg_type = RTM_NEWLINK;
	struct ifinfomsg *ifi = NLMSG_DATA(q.h);
	ifi->ifi_family = AF_UNSPEC;
	if (up >= 0) {
		ifi->ifi_flags = up ? IFF_UP : 0;
		ifi->ifi_change = IFF_UP;
	}
	/* by index: IFLA_IFNAME in the message is the NEW name */
	unsigned idx = if_nametoindex(name);
	if (idx == 0)
		return errno ? errno : ENODEV;
	ifi->ifi_index = (int)idx;
	if (newname && strcmp(newname, name) != 0)
		nl_attr(&q, IFLA_IFNAME, newname, strlen(newname) + 1);
	if (mac)
		nl_attr(&q, IFLA_ADDRESS, mac, 6);
	if (mtu)
		nl_attr(&q, IFLA_MTU, &mtu, 4);
	if (nsfd >= 0) {
		uint32_t fd32 = (uint32_t)nsfd;
		nl_attr(&q, IFLA_NET_NS_FD, &fd32, 4);
	}
	return nl_talk(sk, q.h);
}

static int op_pool_make(const struct field *f, uint32_t nf, struct reply *r)
{
	char host[IFNAMSIZ], peer[IFNAMSIZ];
	if (nf != 3 || field_str(&f[0], host, sizeof(host)) || field_str(&f[1], peer, sizeof(peer)) || f[2].len != 4 || !valid_ifname(host) ||
	    !valid_ifname(peer))
		return failf(r, EINVAL, 1, "pool-make: malformed request");
	uint32_t mtu = u32_at(f[2].p);
	NLBUF(q, struct ifinfomsg);
	q.h->nlmsg_type = RTM_NEWLINK;
	q.h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct ifinfomsg *ifi = NLMSG_DATA(q.h);
	ifi->ifi_family = AF_UNSPEC;
	nl_attr(&q, IFLA_IFNAME, host, strlen(host) + 1);
	nl_attr(&q, IFLA_MTU, &mtu, 4);
	struct rtattr *li = nl_nest(&q, IFLA_LINKINFO);
	nl_attr(&q, IFLA_INFO_KIND, "veth", 4);
	struct rtattr *data = nl_nest(&q, IFLA_INFO_DATA);
	struct rtattr *pr = nl_nest(&q, VETH_INFO_PEER);
	struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC };
	memcpy(nl_tail(&q), &pifi, sizeof(pifi));
	q.h->nlmsg_len = NLMSG_ALIGN(q.h->nlmsg_len) + (uint32_t)sizeof(pifi);
	nl_attr(&q, IFLA_IFNAME, peer, strlen(peer) + 1);
	if (!nl_attr(&q, IFLA_MTU, &mtu, 4))
		return failf(r, EINVAL, 1, "pool-make: request too large");
	nl_nest_end(&q, pr);
	nl_nest_end(&q, data);
	nl_nest_end(&q, li);
	int err = nl_talk(host_nl, q.h);
	if (err)
		return failf(r, err, 1, "creating pool veth %s <-> %s", host, peer);
	return reply_ifindex(r, host, 2);
}

static int op_pool_take(const struct field *f, uint32_t nf, struct reply *r)
{
	char phost[IFNAMSIZ], host[IFNAMSIZ], ppeer[IFNAMSIZ], pod[IFNAMSIZ], netns[4096];
	if (nf != 8 || field_str(&f[0], phost, sizeof(phost)) || field_str(&f[1], host, sizeof(host)) || f[2].len != 6 || f[3].len != 4 ||
	    field_str(&f[4], ppeer, sizeof(ppeer)) || field_str(&f[5], pod, sizeof(pod)) || f[6].len != 6 || field_str(&f[7], netns, sizeof(netns)))
		return failf(r, EINVAL, 1, "pool-take: malformed request");
	if (!valid_ifname(phost) || !valid_ifname(host) || !valid_ifname(ppeer) || !valid_ifname(pod))
		return failf(r, EINVAL, 1, "pool-take: invalid interface name");
	uint32_t mtu = u32_at(f[3].p);
	int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return failf(r, errno, 1, "pool-take: opening netns %s", netns);
	/* the peer is down (pool pairs are made and put back down): it moves, is renamed in the
	 * target netns and gets the pod's MAC in one request */
	int err = link_change(host_nl, ppeer, pod, f[6].p, mtu, nsfd, -1);
	close(nsfd);
	if (err)
		return failf(r, err, 1, "moving pool veth %s into %s as %s", ppeer, netns, pod);
	err = link_change(host_nl, phost, host, f[2].p, mtu, -1, 1);
	if (err)
		return failf(r, err, 2, "renaming pool veth %s to %s and bringing it up", phost, host);
	return reply_ifindex(r, host, 2);
}

static int op_pool_put(const struct field *f, uint32_t nf, struct reply *r)
{
	char netns[4096], pod[IFNAMSIZ], ppeer[IFNAMSIZ], host[IFNAMSIZ], phost[IFNAMSIZ];
	if (nf != 5 || field_str(&f[0], netns, sizeof(netns)) || field_str(&f[1], pod, sizeof(pod)) || field_str(&f[2], ppeer, sizeof(ppeer)) ||
	    field_str(&f[3], host, sizeof(host)) || field_str(&f[4], phost, sizeof(phost)))
		return failf(r, EINVAL, 1, "pool-put: malformed request");
	if (!valid_ifname(pod) || !valid_ifname(ppeer) || !valid_ifname(host) || !valid_ifname(phost))
		return failf(r, EINVAL, 1, "pool-put: invalid interface name");
	int err = link_change(host_nl, host, NULL, NULL, 0, -1, 0);
	if (err)
		return failf(r, err, 1, "bringing %s down", host);
	int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return failf(r, errno, 2, "pool-put: opening netns %s", netns);
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(nsfd);
		return failf(r, e, 2, "entering netns %s", netns);
	}
	close(nsfd);
	int sk = nl_open();
	int rc = 0;
	if (sk < 0) {
		rc = failf(r, errno, 2, "opening a netlink socket in %s", netns);
	} else {
		/* home_ns is an fd of this process: valid in the request whatever netns we are in */
		err = link_change(sk, pod, ppeer, NULL, 0, home_ns, -1);
		if (err)
			rc = failf(r, err, 2, "moving %s out of %s as %s", pod, netns, ppeer);
		close(sk);
	}
	if (setns(home_ns, CLONE_NEWNET) < 0) {
		fprintf(stderr, "pw-wire: cannot return to the agent's netns: %s\n", strerror(errno));
		_exit(70);
	}
	if (rc)
		return rc;
	err = link_change(host_nl, host, phost, NULL, 0, -1, -1);
	if (err)
		return failf(r, err, 3, "renaming %s to %s", host, phost);
	return 0;
}

/* ---- framing ------------------------------------------------------------------------------ */

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* The test-only fault (see the header comment): kind "crash" or "hang" after op `op`. */
static void maybe_fault(uint32_t op)
{
	const char *spec = getenv("PODWIRE_WIRE_FAULT");
	if (!spec || op >= OP_MAX)
		return;
	char kind[8], name[16];
	int off = 0;
	if (sscanf(spec, "%7[a-z]:%15[a-z-]:%n", kind, name, &off) != 2 || off == 0 || strcmp(name, op_names[op]) != 0)
		return;
	if (unlink(spec + off) < 0)
		return; /* no marker: already fired, or not armed */
	if (strcmp(kind, "crash") == 0)
		raise(SIGKILL);
	if (strcmp(kind, "hang") == 0)
		for (;;)
			pause();
}

int main(void)
{
	/* Die with the agent, also while stuck in an op (a hung request, the test's hang fault):
	 * EOF on stdin is only seen between requests. A parent gone before this call: exit now. */
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		return 0;
	signal(SIGPIPE, SIG_IGN);
	home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home_ns < 0) {
		fprintf(stderr, "pw-wire: opening its own netns: %s\n", strerror(errno));
		return 1;
	}
	host_nl = nl_open();
	if (host_nl < 0) {
		fprintf(stderr, "pw-wire: opening a netlink socket: %s\n", strerror(errno));
		return 1;
	}
	static uint8_t frame[MAX_FRAME];
	for (;;) {
		uint32_t len;
		if (read_full(0, &len, 4) < 0)
			return 0; /* the client closed stdin: done */
		if (len < 12 || len > MAX_FRAME) {
			fprintf(stderr, "pw-wire: bad frame length %u\n", len);
			return 2;
		}
		if (read_full(0, frame, len) < 0)
			return 2;
		uint32_t id = u32_at(frame), op = u32_at(frame + 4), nf = u32_at(frame + 8);
		struct field f[MAX_FIELDS];
		struct reply r = { 0 };
		size_t pos = 12;
		int ok = nf <= MAX_FIELDS;
		for (uint32_t i = 0; ok && i < nf; i++) {
			if (pos + 4 > len) {
				ok = 0;
				break;
			}
			f[i].len = u32_at(frame + pos);
			pos += 4;
			if (f[i].len > len - pos) {
				ok = 0;
				break;
			}
			f[i].p = frame + pos;
			pos += f[i].len;
		}
		if (!ok)
			failf(&r, EINVAL, 0, "malformed fields");
		else if (op == OP_VETH_ADD)
			op_veth_add(f, nf, &r);
		else if (op == OP_POD_CONFIG)
			op_pod_config(f, nf, &r);
		else if (op == OP_TCX_ATTACH)
			op_tcx_attach(f, nf, &r);
		else if (op == OP_MAP_UPDATE || op == OP_MAP_DELETE)
			op_map((int)op, f, nf, &r);
		else if (op == OP_LINK_DEL)
			op_link_del(f, nf, &r);
		else if (op == OP_ROUTE)
			op_route(f, nf, &r);
		else if (op == OP_POOL_MAKE)
			op_pool_make(f, nf, &r);
		else if (op == OP_POOL_TAKE)
			op_pool_take(f, nf, &r);
		else if (op == OP_POOL_PUT)
			op_pool_put(f, nf, &r);
		else
			failf(&r, EINVAL, 0, "unknown op %u", op);
		maybe_fault(op);
		size_t mlen = r.err ? strlen(r.msg) : 0;
		uint8_t out[20 + sizeof(r.msg)];
		uint32_t hdr[5] = { (uint32_t)(16 + mlen), id, r.err, r.step, r.value };
		memcpy(out, hdr, sizeof(hdr));
		memcpy(out + sizeof(hdr), r.msg, mlen);
		if (write_full(1, out, sizeof(hdr) + mlen) < 0)
			return 0; /* the client is gone */
	}
}
