export declare const CLANG: string;
export declare const BPFTOOL: string;
