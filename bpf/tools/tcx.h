/* tcx.h — the tcx link ABI and the bpf(2) calls shared by the host helpers pw-tcx.c (one command
 * per exec) and pw-wire.c (the agent's long-lived helper). Only libc and kernel UAPI headers.
 *
 * Debian 12's linux-libc-dev (6.1) predates tcx (6.6): the values below are the running kernel's
 * (bpftool btf dump file /sys/kernel/btf/vmlinux: BPF_TCX_INGRESS = 46, BPF_TCX_EGRESS = 47,
 * BPF_LINK_TYPE_TCX = 11) and are fixed ABI, as are the 6.6+ layouts of the bpf_attr members
 * 6.1's header lacks.
 */
#ifndef PW_TOOLS_TCX_H
#define PW_TOOLS_TCX_H

#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PW_TCX_INGRESS 46u
#define PW_TCX_EGRESS 47u
#define PW_LINK_TYPE_TCX 11u

struct pw_link_create {
	uint32_t prog_fd;
	uint32_t target_ifindex;
	uint32_t attach_type;
	uint32_t flags;
	uint32_t relative_fd; /* tcx.relative_fd: 0 = append after every other tcx program */
	uint32_t pad;
	uint64_t expected_revision; /* 0 = any */
};
_Static_assert(offsetof(struct pw_link_create, relative_fd) == 16, "link_create.tcx layout");
_Static_assert(offsetof(struct pw_link_create, expected_revision) == 24, "link_create.tcx layout");

struct pw_query {
	uint32_t target_ifindex;
	uint32_t attach_type;
	uint32_t query_flags;
	uint32_t attach_flags;
	uint64_t prog_ids;
	uint32_t count;
	uint32_t pad;
	uint64_t prog_attach_flags;
	uint64_t link_ids;
	uint64_t link_attach_flags;
	uint64_t revision;
};
_Static_assert(offsetof(struct pw_query, count) == 24, "query layout");
_Static_assert(offsetof(struct pw_query, link_ids) == 40, "query layout");
_Static_assert(offsetof(struct pw_query, revision) == 56, "query layout");

/* struct bpf_link_info up to its tcx member (the union starts 8-aligned, at 16). */
struct pw_link_info {
	uint32_t type;
	uint32_t id;
	uint32_t prog_id;
	uint32_t pad;
	uint32_t ifindex;
	uint32_t attach_type;
};
_Static_assert(offsetof(struct pw_link_info, ifindex) == 16, "bpf_link_info.tcx layout");

/* Every command's attr lives in one zeroed buffer the size of the header's union: the kernel
 * requires unused tail bytes to be zero. */
union pw_attr {
	union bpf_attr attr;
	struct pw_link_create link_create;
	struct pw_query query;
};

static inline long sys_bpf(int cmd, union pw_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static inline int obj_get(const char *path)
{
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	a.attr.pathname = (uint64_t)(uintptr_t)path;
	return (int)sys_bpf(BPF_OBJ_GET, &a);
}

static inline int obj_pin(int fd, const char *path)
{
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	a.attr.pathname = (uint64_t)(uintptr_t)path;
	a.attr.bpf_fd = (uint32_t)fd;
	return (int)sys_bpf(BPF_OBJ_PIN, &a);
}

static inline int get_info(int fd, void *info, uint32_t len)
{
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	memset(info, 0, len);
	a.attr.info.bpf_fd = (uint32_t)fd;
	a.attr.info.info_len = len;
	a.attr.info.info = (uint64_t)(uintptr_t)info;
	return (int)sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
}

/* BPF_OBJ_GET returns whatever is pinned; /proc/self/fdinfo tells a link (link_id:) from a
 * program (prog_type:) from a map (map_type:), so a wrong path is reported instead of misread. */
static inline int fd_has_field(int fd, const char *field)
{
	char path[64], line[256];
	int found = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0) {
			found = 1;
			break;
		}
	fclose(f);
	return found;
}

/* BPF_LINK_CREATE of a tcx link (appended after every other tcx program): fd or -1/errno. */
static inline int tcx_link_create(int prog_fd, uint32_t ifindex, uint32_t attach_type)
{
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)prog_fd;
	a.link_create.target_ifindex = ifindex;
	a.link_create.attach_type = attach_type;
	return (int)sys_bpf(BPF_LINK_CREATE, &a);
}

/* BPF_LINK_UPDATE: 0 or -1/errno (tcx answers ENOLINK once the link's device is gone). */
static inline int tcx_link_update(int link_fd, int prog_fd)
{
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	a.attr.link_update.link_fd = (uint32_t)link_fd;
	a.attr.link_update.new_prog_fd = (uint32_t)prog_fd;
	return (int)sys_bpf(BPF_LINK_UPDATE, &a);
}

static inline int tcx_link_detach(int link_fd)
{
	union pw_attr a;
	memset(&a, 0, sizeof(a));
	a.attr.link_detach.link_fd = (uint32_t)link_fd;
	return (int)sys_bpf(BPF_LINK_DETACH, &a);
}

#endif
