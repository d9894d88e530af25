// The WebAssembly twin of the datapath's decision logic (bpf/twin/twin.c over bpf/lib/decide.h):
// run a frame through a program's exact decision code against live or snapshotted maps.
export { Twin, twinWasmPath, reasonNames, actionNames, type CoreVerdict, type RunContext, type TwinLookup, type TwinRun } from './wasm.js';
export { type MapSource, snapshotSource, liveSource } from './sources.js';
export { type Fib, type FibAnswer, type FibQuery, noFib, tableFib, routeGet, FIB_RC } from './fib.js';
export { buildFrame, inetChecksum, PROTO_NUMBERS, type FrameSpec, type L4Proto } from './packet.js';
export { explain, reasonWords, type Explanation, type PolicyNames, type TraceStep } from './explain.js';
export { tracePacket, type TraceReport, type TraceRequest, type TraceTarget } from './trace.js';
export { decodeStruct, type FieldValue } from './struct.js';
