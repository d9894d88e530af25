// PATCH bodies: JSON merge patch (RFC 7386: maps merge, null deletes, every list is replaced),
// strategic merge patch (smp.ts: lists merge by key per the kind's patch metadata, with
// directives), and JSON patch (RFC 6902: add, remove, replace, test, move, copy).
import { strategicMergePatch } from './smp.js';
import { badRequest, ApiError, unsupportedMediaType } from './status.js';
import { isRecord } from './types.js';

/** RFC 7386 JSON merge patch. `$`-keys are ordinary keys here (they mean nothing to this format). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function unescapeToken(t: string): string {
  return t.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`the server rejected our request due to an error in our request: invalid JSON pointer "${path}"`);
  return path.slice(1).split('/').map(unescapeToken);
}

type Container = Record<string, unknown> | unknown[];

function walk(doc: unknown, tokens: string[]): { parent: Container; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isRecord(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw badRequest(`the server rejected our request due to an error in our request: doc is missing path: /${tokens.join('/')}`);
  }
  if (!Array.isArray(cur) && !isRecord(cur)) throw badRequest(`the server rejected our request due to an error in our request: doc is missing path: /${tokens.join('/')}`);
  return { parent: cur, key: tokens[tokens.length - 1] ?? '' };
}

function getAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const t of parsePointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isRecord(cur) ? cur[t] : undefined;
    if (cur === undefined) throw badRequest(`the server rejected our request due to an error in our request: doc is missing path: ${path}`);
  }
  return cur;
}

function removeAt(doc: unknown, path: string): unknown {
  const { parent, key } = walk(doc, parsePointer(path));
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw badRequest(`the server rejected our request due to an error in our request: doc is missing path: ${path}`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw badRequest(`the server rejected our request due to an error in our request: doc is missing path: ${path}`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = walk(doc, tokens);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length) throw badRequest(`the server rejected our request due to an error in our request: invalid array index ${key}`);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else {
    if (replace && !(key in parent)) throw badRequest(`the server rejected our request due to an error in our request: doc is missing key: ${path}`);
    parent[key] = value;
  }
  return doc;
}

export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('the server rejected our request due to an error in our request: a JSON patch must be an array of operations');
  let out: unknown = structuredClone(doc);
  for (const op of ops) {
    if (!isRecord(op) || typeof op.path !== 'string') throw badRequest('the server rejected our request due to an error in our request: bad JSON patch operation');
    switch (op.op) {
      case 'add':
        out = addAt(out, op.path, structuredClone(op.value), false);
        break;
      case 'replace':
        out = addAt(out, op.path, structuredClone(op.value), true);
        break;
      case 'remove':
        removeAt(out, op.path);
        break;
      case 'test':
        if (JSON.stringify(getAt(out, op.path)) !== JSON.stringify(op.value)) {
          throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed`);
        }
        break;
      case 'move':
      case 'copy': {
        if (typeof op.from !== 'string') throw badRequest('the server rejected our request due to an error in our request: JSON patch move/copy needs "from"');
        const v = op.op === 'move' ? removeAt(out, op.from) : structuredClone(getAt(out, op.from));
        out = addAt(out, op.path, v, false);
        break;
      }
      default:
        throw badRequest(`the server rejected our request due to an error in our request: unexpected JSON patch operation ${JSON.stringify(op.op)}`);
    }
  }
  return out;
}

const PATCH_TYPES = new Set(['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json']);

/** Reject an unsupported PATCH Content-Type before reading the body (as the real server does). */
export function checkPatchType(contentType: string): void {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (!PATCH_TYPES.has(type)) throw unsupportedMediaType(type);
}

/** Apply a PATCH body of the given Content-Type to the current object of `kind`. */
export function applyPatch(contentType: string, kind: string, current: unknown, body: unknown): unknown {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  switch (type) {
    case 'application/merge-patch+json':
      return mergePatch(current, body);
    case 'application/strategic-merge-patch+json':
      return strategicMergePatch(kind, current, body);
    case 'application/json-patch+json':
      return jsonPatch(current, body);
    default:
      throw unsupportedMediaType(type);
  }
}
