// Label and field selectors with the grammar of k8s.io/apimachinery (labels.Parse and
// fields.ParseSelector): `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a` for labels;
// `f=v`, `f==v`, `f!=v` (with `\,` `\=` `\\` escapes) for fields. Parsed once per request, then
// matched against every candidate object, so matching is a short loop with no allocation.
import { badRequest } from './status.js';

export type LabelOp = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

export interface FieldRequirement {
  field: string;
  neq: boolean;
  value: string;
}

export type FieldSelector = FieldRequirement[];

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Split on commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

function checkKey(key: string, whole: string): string {
  if (!LABEL_KEY.test(key) || key.length > 317) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${whole}"`);
  }
  return key;
}

function checkValue(value: string, whole: string): string {
  if (!LABEL_VALUE.test(value) || value.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label value: "${value}" in selector "${whole}"`);
  }
  return value;
}

export function parseLabelSelector(text: string | undefined): LabelSelector | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const reqs: LabelSelector = [];
  for (const raw of splitTop(text)) {
    const part = raw.trim();
    if (part === '') throw badRequest(`found '', expected: identifier in label selector "${text}"`);
    let m: RegExpExecArray | null;
    if ((m = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part))) {
      const values = (m[3] ?? '').split(',').map((v) => checkValue(v.trim(), text));
      reqs.push({ key: checkKey(m[1] ?? '', text), op: m[2] === 'in' ? 'in' : 'notin', values });
    } else if ((m = /^([^=!<>\s]+)\s*(==|!=|=|<|>)\s*(\S*)$/.exec(part))) {
      const op: LabelOp = m[2] === '!=' ? 'neq' : m[2] === '<' ? 'lt' : m[2] === '>' ? 'gt' : 'eq';
      const value = m[3] ?? '';
      if ((op === 'gt' || op === 'lt') && !/^-?[0-9]+$/.test(value)) {
        throw badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer in selector "${text}"`);
      }
      reqs.push({ key: checkKey(m[1] ?? '', text), op, values: [op === 'gt' || op === 'lt' ? value : checkValue(value, text)] });
    } else if ((m = /^!\s*(\S+)$/.exec(part))) {
      reqs.push({ key: checkKey(m[1] ?? '', text), op: 'notexists', values: [] });
    } else if (/^\S+$/.test(part)) {
      reqs.push({ key: checkKey(part, text), op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: "${part}" in label selector "${text}"`);
    }
  }
  return reqs;
}

export function matchLabels(sel: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!sel) return true;
  for (const r of sel) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case 'eq':
        if (!has || v !== r.values[0]) return false;
        break;
      case 'neq':
        if (has && v === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?[0-9]+$/.test(v!)) return false;
        const a = Number(v);
        const b = Number(r.values[0]);
        if (r.op === 'gt' ? !(a > b) : !(a < b)) return false;
        break;
      }
    }
  }
  return true;
}

/** Split a field selector on unescaped commas and unescape `\,`, `\=`, `\\` in values. */
function splitEscaped(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      cur += c + text[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

/**
 * Parse a field selector and check every field against the resource's supported labels; the
 * real server answers an unsupported one with 400 `field label not supported: X`.
 */
export function parseFieldSelector(text: string | undefined, supported: ReadonlySet<string>): FieldSelector | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const reqs: FieldSelector = [];
  for (const raw of splitEscaped(text, ',')) {
    const part = raw.trim();
    const m = /^([^=!]+?)\s*(==|!=|=)(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const field = m[1]!.trim();
    if (!supported.has(field)) throw badRequest(`field label not supported: ${field}`);
    reqs.push({ field, neq: m[2] === '!=', value: unescape(m[3] ?? '') });
  }
  return reqs;
}

export function matchFields(sel: FieldSelector | undefined, fields: (name: string) => string): boolean {
  if (!sel) return true;
  for (const r of sel) {
    if ((fields(r.field) === r.value) === r.neq) return false;
  }
  return true;
}
