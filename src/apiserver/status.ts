// Errors as the real API server shapes them: a meta/v1 `Status` with `reason`, `details` and
// `code`, so clients (kubectl, client-go, @kubernetes/client-node) react to them exactly as they
// would against a real cluster (e.g. a 410 `Expired` makes an informer relist). Messages follow
// k8s.io/apimachinery/pkg/api/errors word for word where clients or humans match on them.

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

/** Thrown inside request handling; the router turns it into a Status response. */
export class ApiError extends Error {
  readonly status: StatusObject;

  constructor(code: number, reason: string, message: string, details?: StatusObject['details']) {
    super(message);
    this.name = 'ApiError';
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
    if (details) this.status.details = details;
  }

  get code(): number {
    return this.status.code;
  }
}

export const notFound = (resource: string, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });

export const alreadyExists = (resource: string, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${resource} "${name}" already exists`, { name, kind: resource });

export const conflict = (resource: string, name: string, why: string): ApiError =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": ${why}`, { name, kind: resource });

export const CONFLICT_MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';

/** 410 for a watch or list that asks for history the server no longer keeps (as etcd compaction). */
export const expired = (message: string): ApiError => new ApiError(410, 'Expired', message);

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);

export const methodNotAllowed = (): ApiError =>
  new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

export const internalError = (message: string): ApiError =>
  new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });

export const unsupportedMediaType = (type: string): ApiError =>
  new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${type || 'none'})`,
  );

/** One field error of a 422; `kind` is the Kind ("Pod"), `type` the validation type ("Required value"). */
export interface FieldError {
  field: string;
  type: 'Required value' | 'Invalid value' | 'Forbidden' | 'Unsupported value' | 'Duplicate value';
  detail: string;
  value?: unknown;
}

const causeReason: Record<FieldError['type'], string> = {
  'Required value': 'FieldValueRequired',
  'Invalid value': 'FieldValueInvalid',
  Forbidden: 'FieldValueForbidden',
  'Unsupported value': 'FieldValueNotSupported',
  'Duplicate value': 'FieldValueDuplicate',
};

function fieldErrorText(e: FieldError): string {
  const value = e.type === 'Invalid value' || e.type === 'Unsupported value' ? ` ${JSON.stringify(e.value)}` : '';
  const sep = e.type === 'Invalid value' || e.type === 'Unsupported value' ? ':' : '';
  return `${e.field}: ${e.type}${sep}${value}${e.detail ? `: ${e.detail}` : ''}`;
}

export function invalid(kind: string, name: string, errors: FieldError[]): ApiError {
  const list = errors.map(fieldErrorText);
  const text = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${text}`, {
    name,
    kind,
    causes: errors.map((e) => ({ reason: causeReason[e.type], message: fieldErrorText(e).slice(e.field.length + 2), field: e.field })),
  });
}

/** A list or watch asked for a resourceVersion newer than any the server has seen. */
export const tooLargeResourceVersion = (asked: number, current: number): ApiError =>
  new ApiError(504, 'Timeout', `Timeout: Too large resource version: ${asked}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });

export function successStatus(details: StatusObject['details']): StatusObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: details ?? {}, code: 200 } as StatusObject;
}
