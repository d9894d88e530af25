// The external tools podwire runs, named once. No imports: the CNI ADD path and the loader read
// these without loading the build machinery (execa, the BTF generator).
export const CLANG = 'clang-16';
export const BPFTOOL = 'bpftool';
