// Types for twin.mjs (plain JS because it runs at build time before TypeScript is compiled).
export declare const TWIN_SOURCE: string;
export declare const TWIN_WASM: string;
export declare function twinClangArgs(src: string, out: string, includeDir: string): string[];
export declare function buildTwin(root: string): Promise<{ wasm: string }>;
