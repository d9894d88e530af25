// Types for bpf.mjs (plain JS because it runs at build time before TypeScript is compiled).
export { CLANG, BPFTOOL } from './toolchain.mjs';
export declare const LINKED_OBJECT: string;
export declare const LAYOUTS_FILE: string;
export declare const PREBUILT_MANIFEST: string;
export declare function datapathSourceHash(srcDir: string, opts: { version: string; defines?: Record<string, string | number> }): string;
export interface PrebuiltManifest {
  object: string;
  version: string;
  defines: Record<string, string | number>;
  hash: string;
}
export declare function clangArgs(
  src: string,
  out: string,
  opts?: { includeDir?: string; defines?: Record<string, string | number> },
): string[];
export declare function listSources(srcDir: string): Promise<string[]>;
export declare function compileAndLink(srcDir: string, outDir: string, defines?: Record<string, string | number>): Promise<string>;
export interface MapLayout {
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  key: string;
  value: string;
}
export interface FieldLayout {
  offset: number;
  size: number;
  count?: number;
}
export interface ObjectLayouts {
  structs: Record<string, { size: number; fields: Record<string, FieldLayout> }>;
  maps: Record<string, MapLayout>;
  enums: Record<string, { prefix: string; values: Record<string, number> }>;
}
export declare function readObjectLayouts(objPath: string): Promise<ObjectLayouts>;
export declare function generateLayouts(objPath: string): Promise<string>;
export declare function buildBpf(root: string): Promise<{ object: string; layouts: string }>;
